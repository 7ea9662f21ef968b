"""Stripe's errors reach people as true messages; revoked access disconnects the store."""

from __future__ import annotations

import pytest

from payments import stripe_client
from payments.platform.services import connected_account_for
from tests.conftest import store_client
from tests.factories import product_with_file
from tests.payments.conftest import connect_store


def test_an_idempotency_mismatch_says_so_and_is_not_retryable(alice_store, standin):
    row = connect_store(alice_store, standin)
    urls = {"return_url": "https://alice.example.com/r/", "nonce": "same-visit"}
    stripe_client.account_link_create(
        account_id=row.stripe_account_id, refresh_url="https://alice.example.com/a/", **urls
    )
    with pytest.raises(stripe_client.StripeFailure) as caught:
        # Same key (account + nonce), different body: Stripe's idempotency_error.
        stripe_client.account_link_create(
            account_id=row.stripe_account_id, refresh_url="https://alice.example.com/b/", **urls
        )
    failure = caught.value
    assert failure.code == "idempotency_error"
    assert failure.retryable is False
    assert "earlier attempt with different details" in failure.user_message
    assert "Stripe had a problem" not in failure.user_message


def test_revoked_access_disconnects_the_store_when_the_seller_opens_stripe(
    alice, alice_store, mallory_store, standin
):
    row = connect_store(alice_store, standin)
    connect_store(mallory_store, standin)
    assert alice_store.can_take_charges
    # Alice removes the platform in her Stripe Dashboard; no webhook has arrived.
    standin.call("POST", f"/accounts/{row.stripe_account_id}/revoke")

    client = store_client(alice_store, alice)
    response = client.get("/dashboard/stripe/refresh/", follow=True)
    page = response.content.decode()
    assert "no longer gives the platform access" in page
    assert "Stripe had a problem" not in page

    row.refresh_from_db()
    alice_store.refresh_from_db()
    assert row.deauthorized_at is not None and row.state == "deauthorized"
    assert not alice_store.can_take_charges
    assert "disconnected" in alice_store.charges_blocked_reason
    assert b"Reconnect Stripe" in client.get("/dashboard/stripe/").content
    # Mallory's store is untouched.
    mallory_store.refresh_from_db()
    assert mallory_store.can_take_charges
    assert connected_account_for(mallory_store).deauthorized_at is None


def test_revoked_access_found_at_checkout_stops_the_store_selling(alice_store, standin):
    row = connect_store(alice_store, standin)
    product = product_with_file(alice_store, price=1999)
    standin.call("POST", f"/accounts/{row.stripe_account_id}/revoke")

    response = store_client(alice_store).post(
        f"/buy/{product.slug}/", {"attempt": "0123456789abcdef0123456789abcdef"}
    )
    assert response.status_code == 502
    assert b"no longer gives the platform access" in response.content
    alice_store.refresh_from_db()
    assert not alice_store.can_take_charges
    # The next buyer is told the store can't take payments, without a call to Stripe.
    before = len(standin.requests("/v1/checkout/sessions"))
    again = store_client(alice_store).post(
        f"/buy/{product.slug}/", {"attempt": "1123456789abcdef0123456789abcdef"}
    )
    assert again.status_code == 409
    assert len(standin.requests("/v1/checkout/sessions")) == before
