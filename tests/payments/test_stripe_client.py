"""The Stripe client itself: one per process, pinned to one API version, typed params."""

from __future__ import annotations

from payments import stripe_client
from tests.payments.conftest import connect_store


def test_every_call_uses_the_one_client_and_its_http_session(alice_store, standin):
    row = connect_store(alice_store, standin)
    first = stripe_client._client()
    stripe_client.account_retrieve(row.stripe_account_id)
    stripe_client.account_retrieve(row.stripe_account_id)
    assert stripe_client._client() is first
    # The thread's requests.Session survives between calls: no new TLS handshake each time.
    http = first._requestor._client
    session = http._thread_local.session
    stripe_client.account_retrieve(row.stripe_account_id)
    assert http._thread_local.session is session


def test_a_new_key_gets_a_new_client(alice_store, standin, settings):
    first = stripe_client._client()
    settings.STRIPE_SECRET_KEY = "sk_test_other"
    assert stripe_client._client() is not first


def test_the_api_version_is_pinned_and_is_the_one_the_sdk_was_generated_for(alice_store, standin):
    # stripe-python's types describe one API version; asking for another would make the
    # type checker check against the wrong API. Upgrading the SDK means moving this pin.
    from stripe._api_version import _ApiVersion

    assert stripe_client.STRIPE_API_VERSION == _ApiVersion.CURRENT == "2026-10-28.endive"
    connect_store(alice_store, standin)
    versions = {r["stripe_version"] for r in standin.requests("/v1/")}
    assert versions == {stripe_client.STRIPE_API_VERSION}


def test_deploy_readme_names_the_pinned_version():
    from pathlib import Path

    readme = Path(__file__).resolve().parents[2] / "deploy" / "README.md"
    assert stripe_client.STRIPE_API_VERSION in readme.read_text()
