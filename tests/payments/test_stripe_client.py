"""The Stripe client itself: one per process, pinned to one API version, typed params."""

from __future__ import annotations

from payments import stripe_client
from tests.payments.conftest import connect_store


def test_every_call_uses_the_one_client_and_its_open_connection(alice_store, standin):
    row = connect_store(alice_store, standin)
    first = stripe_client._client()
    stripe_client.account_retrieve(row.stripe_account_id)
    assert stripe_client._client() is first
    # The connection stays open between calls: no new TCP (TLS, against Stripe)
    # handshake each time, also from several threads at once.
    http = first._requestor._client
    assert isinstance(http, stripe_client._Urllib3Client)
    pool = http._pool.connection_from_url(standin.base)
    opened = pool.num_connections
    for _ in range(3):
        stripe_client.account_retrieve(row.stripe_account_id)
    assert pool.num_connections == opened == 1

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as threads:
        ids = list(
            threads.map(
                lambda _: stripe_client.account_retrieve(row.stripe_account_id).id, range(40)
            )
        )
    assert set(ids) == {row.stripe_account_id}
    assert pool.num_connections <= 4


def test_a_stripe_error_and_a_dead_api_still_read_as_stripe_failures(
    alice_store, standin, settings
):
    """Over urllib3 as over requests: Stripe's error answers raise stripe's exceptions
    (here a 404 for an account that does not exist), an unreachable API is retryable."""
    import pytest

    from tests.live import free_port

    with pytest.raises(stripe_client.StripeFailure) as missing:
        stripe_client.account_retrieve("acct_doesnotexist000")
    assert not missing.value.retryable
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(stripe_client.StripeFailure) as dead:
        stripe_client.account_retrieve("acct_doesnotexist000")
    assert dead.value.retryable and "could not reach Stripe" in dead.value.user_message


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


def _proxy_env(monkeypatch, proxy: str | None) -> None:
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    if proxy:
        monkeypatch.setenv("http_proxy", proxy)
        monkeypatch.setenv("https_proxy", proxy)


def test_the_environments_proxy_is_read_when_the_client_is_built_not_on_each_call(
    alice_store, standin, monkeypatch
):
    import pytest

    from tests.live import free_port

    row = connect_store(alice_store, standin)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    # A proxy named in the environment when the client is built is used for every call.
    _proxy_env(monkeypatch, dead)
    monkeypatch.setattr(stripe_client, "_client_cache", None)
    with pytest.raises(stripe_client.StripeFailure) as failed:
        stripe_client.account_retrieve(row.stripe_account_id)
    assert failed.value.retryable  # could not connect (to the proxy)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(stripe_client, "_client_cache", None)
    assert stripe_client.account_retrieve(row.stripe_account_id).id == row.stripe_account_id
    # Built without one, no call looks at the environment again (requests would walk all
    # of os.environ twice per call): a proxy variable set afterwards changes nothing.
    _proxy_env(monkeypatch, None)
    monkeypatch.setattr(stripe_client, "_client_cache", None)
    stripe_client.account_retrieve(row.stripe_account_id)
    _proxy_env(monkeypatch, dead)
    assert stripe_client.account_retrieve(row.stripe_account_id).id == row.stripe_account_id
