"""Money logic against Stripe as it really is (issue #10): every dispute status, test-mode
events on a live endpoint, sessions the platform did not create, idempotency across a
rename; and issue #9 §2: a suspended store takes no money.

All through the stand-in over real HTTP; events are the stand-in's own, signed as Stripe
signs them. Alice owns `alice`, Bob buys; Alice's Stripe account has its own API keys.
"""

from __future__ import annotations

import pytest
import stripe
from django.core import mail
from django.core.exceptions import ValidationError

from payments.models import CheckoutRecord, Purchase
from payments.platform.models import FeeLedgerEntry, PaymentIncident, StripeEvent
from payments.services import DISPUTE_ACCESS
from tests.conftest import main_client, store_client
from tests.factories import in_schema, product_with_file
from tests.payments.conftest import checkout_session_id, connect_store, events_deliver, post_event

ATTEMPT = "0123456789abcdef0123456789abcdef"


def _buy(store, product, attempt: str = ATTEMPT):
    return store_client(store).post(f"/buy/{product.slug}/", {"attempt": attempt})


def _bought(store, standin, capture, *, email: str = "bob@example.com"):
    """Bob pays for a PDF of Alice's; every event is delivered. (product, purchase, token)"""
    product = product_with_file(store, price=1999)
    session_id = checkout_session_id(_buy(store, product))
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": email})
    events_deliver(standin, store.stripe_account.stripe_account_id, capture)
    with in_schema(store):
        purchase = Purchase.objects.prefetch_related("grants").get(checkout_session_id=session_id)
    return product, purchase


def _download_status(store, purchase) -> int:
    from payments.services import download_token_for

    with in_schema(store):
        token = download_token_for(Purchase.objects.get(pk=purchase.pk), store=store)
    return store_client(store).get(f"/d/{token}/").status_code


# --- Disputes: every status ---------------------------------------------------------------

# How the stand-in walks a dispute to each status, as a card network would.
DISPUTE_PATHS = {
    "warning_needs_response": ("warning_needs_response", []),
    "warning_under_review": ("warning_needs_response", ["warning_under_review"]),
    "warning_closed": ("warning_needs_response", ["warning_under_review", "warning_closed"]),
    "needs_response": ("needs_response", []),
    "under_review": ("needs_response", ["under_review"]),
    "appeal_needs_response": ("needs_response", ["lost", "appeal_needs_response"]),
    "appeal_under_review": (
        "needs_response",
        ["lost", "appeal_needs_response", "appeal_under_review"],
    ),
    "won": ("needs_response", ["under_review", "won"]),
    "lost": ("needs_response", ["under_review", "lost"]),
    "prevented": ("prevented", []),
}
# What the buyer's download answers in the end: paused 403, revoked 410, restored 200.
EXPECTED = {
    "pause": (Purchase.Status.DISPUTED, "disputed", 403),
    "revoke": (Purchase.Status.DISPUTED, "chargeback", 410),
    "restore": (Purchase.Status.PAID, "", 200),
}


def test_every_dispute_status_stripe_has_is_in_the_table():
    assert set(DISPUTE_ACCESS) == set(DISPUTE_PATHS)
    assert DISPUTE_ACCESS["warning_closed"] == DISPUTE_ACCESS["won"] == "restore"
    assert DISPUTE_ACCESS["lost"] == DISPUTE_ACCESS["prevented"] == "revoke"


@pytest.mark.parametrize("status", list(DISPUTE_PATHS))
def test_each_dispute_status_sets_the_buyers_access(
    status, alice_store, standin, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    connect_store(alice_store, standin)
    account = alice_store.stripe_account.stripe_account_id
    _, purchase = _bought(alice_store, standin, capture)
    assert _download_status(alice_store, purchase) == 200
    seen = {e["id"] for e in standin.events(account=account)}

    opening, steps = DISPUTE_PATHS[status]
    dispute = standin.call("POST", "/disputes", {"charge": purchase.charge_id, "status": opening})
    for step in steps:
        dispute = standin.call("POST", f"/disputes/{dispute['id']}/status", {"status": step})
    assert dispute["status"] == status
    rows = events_deliver(standin, account, capture, seen=seen)
    assert [r.status for r in rows] == [StripeEvent.Status.DONE] * (1 + len(steps))
    if steps and status in ("won", "lost", "warning_closed"):
        assert rows[-1].type == "charge.dispute.closed"

    want_status, want_reason, want_code = EXPECTED[DISPUTE_ACCESS[status]]
    with in_schema(alice_store):
        purchase.refresh_from_db()
        purchase.grant.refresh_from_db()
        assert purchase.status == want_status
        assert purchase.grant.revoked_reason == want_reason
        assert (
            FeeLedgerEntry.objects.get(checkout_session_id=purchase.checkout_session_id).status
            == want_status
        )
    assert _download_status(alice_store, purchase) == want_code


# --- Test-mode events on the live endpoint ------------------------------------------------


def test_a_test_mode_deauthorization_leaves_a_live_store_connected(
    alice_store, standin, settings, django_capture_on_commit_callbacks
):
    settings.STRIPE_SECRET_KEY = "sk_live_tests"  # our live endpoint
    connect_store(alice_store, standin)
    row = alice_store.stripe_account
    assert alice_store.can_take_charges

    # Alice's account is connected in both modes; she disconnects the test-mode one and
    # Stripe sends that test event to our live Connect endpoint as well.
    event = standin.call(
        "POST", f"/accounts/{row.stripe_account_id}/deauthorize", {"livemode": False}
    )["event"]
    assert event["livemode"] is False
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(main_client(), event).status_code == 200
    inbox = StripeEvent.objects.get(event_id=event["id"])
    assert inbox.status == StripeEvent.Status.IGNORED
    assert "test-mode event on the live endpoint" in inbox.last_error
    row.refresh_from_db()
    alice_store.refresh_from_db()
    assert row.deauthorized_at is None and alice_store.can_take_charges

    # The live one does disconnect her.
    live = standin.call("POST", f"/accounts/{row.stripe_account_id}/deauthorize")["event"]
    assert live["livemode"] is True
    with django_capture_on_commit_callbacks(execute=True):
        post_event(main_client(), live)
    row.refresh_from_db()
    assert row.deauthorized_at is not None


def test_a_live_event_on_the_test_endpoint_changes_nothing(
    alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)  # test key, test endpoint
    account = alice_store.stripe_account.stripe_account_id
    event = standin.call("POST", f"/accounts/{account}/deauthorize", {"livemode": True})["event"]
    with django_capture_on_commit_callbacks(execute=True):
        post_event(main_client(), event)
    assert StripeEvent.objects.get(event_id=event["id"]).status == StripeEvent.Status.IGNORED
    alice_store.stripe_account.refresh_from_db()
    assert alice_store.stripe_account.deauthorized_at is None


# --- Sessions the platform did not create -------------------------------------------------


def _as_the_seller(standin, account: str) -> stripe.StripeClient:
    key = standin.call("POST", f"/accounts/{account}/keys")["secret_key"]
    return stripe.StripeClient(
        key, base_addresses={"api": standin.base}, http_client=stripe.RequestsClient()
    )


def test_a_session_the_seller_made_with_their_own_key_delivers_nothing(
    alice_store, standin, django_capture_on_commit_callbacks
):
    """Alice's own key, metadata naming her store and product, 1.00 instead of 19.99, no fee:
    no purchase, no ledger row, no receipt, and the console shows it."""
    capture = django_capture_on_commit_callbacks
    connect_store(alice_store, standin)
    account = alice_store.stripe_account.stripe_account_id
    product = product_with_file(alice_store, price=1999)
    own = _as_the_seller(standin, account)
    session = own.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 100,
                        "product_data": {"name": "Field Guide"},
                    },
                }
            ],
            "metadata": {"store": alice_store.schema_name, "product": str(product.uid)},
            "success_url": f"http://{alice_store.host}/thanks/?session_id={{CHECKOUT_SESSION_ID}}",
        }
    )
    made = [r for r in standin.requests("/v1/checkout/sessions") if r["method"] == "POST"][-1]
    assert made["own_key"] and made["stripe_account"] == account
    standin.call("POST", f"/sessions/{session.id}/pay", {"email": "mallory-friend@example.com"})

    rows = events_deliver(standin, account, capture)
    completed = next(r for r in rows if r.type == "checkout.session.completed")
    assert completed.status == StripeEvent.Status.IGNORED
    # Every other way a purchase can be made finds nothing either.
    with capture(execute=True):
        thanks = store_client(alice_store).get(f"/thanks/?session_id={session.id}")
    assert b"Download PDF" not in thanks.content
    from payments.tasks import reconcile_store

    with in_schema(alice_store):
        assert reconcile_store() == 0
        assert not Purchase.objects.exists()
    assert not FeeLedgerEntry.objects.filter(checkout_session_id=session.id).exists()
    assert not mail.outbox

    incident = PaymentIncident.objects.get(checkout_session_id=session.id)
    assert incident.kind == PaymentIncident.Kind.UNRECORDED
    assert (incident.store_id, incident.amount, incident.fee) == (alice_store.pk, 100, None)

    from sellers.models import User

    olivia = User.objects.create_superuser("olivia@example.com", "pw-olivia-123456")
    page = main_client(olivia).get("/console/webhooks/").content.decode()
    assert "Payments not delivered" in page and session.id in page
    assert "Not created by the platform" in page


def test_a_recorded_session_whose_fee_differs_at_stripe_delivers_nothing(
    alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store, price=1999)
    session_id = checkout_session_id(_buy(alice_store, product))
    with in_schema(alice_store):
        record = CheckoutRecord.objects.get(session_id=session_id)
        assert (record.amount, record.currency, record.fee) == (1999, "usd", 130)
        # What the platform asked for is not what Stripe charged (say the record is of
        # a fee Stripe never applied): nothing may be delivered on Stripe's word alone.
        CheckoutRecord.objects.filter(pk=record.pk).update(fee=200)
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com"})
    events_deliver(
        standin, alice_store.stripe_account.stripe_account_id, django_capture_on_commit_callbacks
    )
    store_client(alice_store).get(f"/thanks/?session_id={session_id}")
    with in_schema(alice_store):
        assert not Purchase.objects.exists()
    incident = PaymentIncident.objects.get(checkout_session_id=session_id)
    assert incident.kind == PaymentIncident.Kind.MISMATCH
    assert "application fee 130 (recorded 200)" in incident.detail


def test_the_platform_records_each_session_before_the_redirect(alice_store, standin):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store, price=1999)
    session_id = checkout_session_id(_buy(alice_store, product))
    with in_schema(alice_store):
        record = CheckoutRecord.objects.get(session_id=session_id)
    assert record.product_id == product.pk and record.status == CheckoutRecord.Status.OPEN
    created = [r for r in standin.requests("/v1/checkout/sessions") if r["method"] == "POST"][-1]
    assert "fee" not in created["params"]["metadata"]  # nothing reads it


# --- Idempotency --------------------------------------------------------------------------


def test_a_renamed_product_between_two_clicks_still_gets_a_working_checkout(alice_store, standin):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store, price=1999)
    first = _buy(alice_store, product)
    assert first.status_code == 302
    with in_schema(alice_store):
        product.title = "Field Guide, second edition"
        product.description = "Now with **owls**."
        product.save()
    again = _buy(alice_store, product)  # same attempt id: the buyer's retried click
    assert again.status_code == 302, again.content[:300]
    session_id = checkout_session_id(again)
    creates = [r for r in standin.requests("/v1/checkout/sessions") if r["method"] == "POST"]
    assert all(r["status"] == 200 for r in creates[-2:])
    # The new session is recorded and payable.
    with in_schema(alice_store):
        assert CheckoutRecord.objects.filter(session_id=session_id).exists()
    paid = standin.call("POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com"})
    assert paid["ok"]
    # And a plain double click still reuses the session.
    assert checkout_session_id(_buy(alice_store, product)) == session_id


# --- A suspended store takes no money -----------------------------------------------------


def test_suspending_a_store_expires_its_open_sessions_and_stops_new_ones(
    alice_store, standin, django_capture_on_commit_callbacks
):
    from console.services import console_store_suspend
    from sellers.models import User

    connect_store(alice_store, standin)
    product = product_with_file(alice_store, price=1999)
    open_id = checkout_session_id(_buy(alice_store, product))
    olivia = User.objects.create_superuser("olivia@example.com", "pw-olivia-123456")
    with django_capture_on_commit_callbacks(execute=True):
        console_store_suspend(actor=olivia, store=alice_store, reason="Chargebacks")

    expires = standin.requests(f"/v1/checkout/sessions/{open_id}/expire")
    assert len(expires) == 1
    assert expires[0]["stripe_account"] == alice_store.stripe_account.stripe_account_id
    assert expires[0]["status"] == 200
    answer = standin.call("GET", "/state")
    session = next(s for s in answer["collections"]["sessions"] if s["id"] == open_id)
    assert session["status"] == "expired"
    assert standin.events(type="checkout.session.expired", account=session["_account"])
    with in_schema(alice_store):
        assert CheckoutRecord.objects.get(session_id=open_id).status == "expired"
    alice_store.refresh_from_db()

    def creates() -> int:
        return len([r for r in standin.requests("/v1/checkout/sessions") if r["method"] == "POST"])

    before = creates()
    response = _buy(alice_store, product, attempt="e" * 32)
    assert response.status_code != 302
    assert creates() == before


def test_a_payment_completing_for_a_suspended_store_is_refunded_and_the_buyer_told(
    alice_store, standin, django_capture_on_commit_callbacks
):
    from tenants.services import store_suspend

    capture = django_capture_on_commit_callbacks
    connect_store(alice_store, standin)
    account = alice_store.stripe_account.stripe_account_id
    product = product_with_file(alice_store, price=1999)
    session_id = checkout_session_id(_buy(alice_store, product))
    # Suspended without the console's sweep (or the sweep lost the race with the buyer).
    store_suspend(store=alice_store, reason="Chargebacks")
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com"})

    rows = events_deliver(standin, account, capture)
    assert {r.type: r.status for r in rows}["checkout.session.completed"] == "done"
    # Stripe's refund events come back too, and the thank-you page asks again: still once.
    events_deliver(standin, account, capture, seen={r.event_id for r in rows})
    with capture(execute=True):
        store_client(alice_store).get(f"/thanks/?session_id={session_id}")

    with in_schema(alice_store):
        assert not Purchase.objects.exists()
        assert CheckoutRecord.objects.get(session_id=session_id).status == "refunded"
    assert not FeeLedgerEntry.objects.filter(checkout_session_id=session_id).exists()
    refunds = [
        r
        for r in standin.requests("/v1/refunds")
        if r["method"] == "POST" and r["stripe_account"] == account
    ]
    assert len(refunds) == 1
    assert refunds[-1]["params"]["refund_application_fee"] in ("true", True)
    charges = standin.call("GET", "/state")["collections"]["charges"]
    charge = next(c for c in charges if c["_account"] == account and c["paid"])
    assert charge["refunded"] and charge["_application_fee_refunded"] == 130

    incident = PaymentIncident.objects.get(checkout_session_id=session_id)
    assert incident.kind == PaymentIncident.Kind.SUSPENDED_REFUND and incident.refund_id
    told = [m for m in mail.outbox if m.to == ["bob@example.com"]]
    assert len(told) == 1 and "refunded" in told[0].subject
    assert "suspended" in told[0].body and "$19.99" in told[0].body
    assert not [m for m in mail.outbox if "receipt" in m.subject.lower()]

    from sellers.models import User

    olivia = User.objects.create_superuser("olivia@example.com", "pw-olivia-123456")
    page = main_client(olivia).get("/console/webhooks/").content.decode()
    assert session_id in page and "Refunded: store suspended" in page


def test_a_suspended_stores_owner_cannot_publish(alice_store, standin):
    from catalog.services import product_publish
    from tenants.services import store_suspend

    connect_store(alice_store, standin)
    product = product_with_file(alice_store, status="draft")
    store_suspend(store=alice_store, reason="Unpaid invoices")
    alice_store.refresh_from_db()
    with in_schema(alice_store), pytest.raises(ValidationError) as raised:
        product_publish(product=product, store=alice_store)
    assert "suspended" in raised.value.messages[0] and "Unpaid invoices" in raised.value.messages[0]
    with in_schema(alice_store):
        product.refresh_from_db()
        assert product.status == "draft"


def test_dispute_events_out_of_order_end_in_stripes_current_state(
    alice_store, standin, django_capture_on_commit_callbacks
):
    """Stripe does not order deliveries: `won` first, then the older `under_review` and
    `created`, must leave the buyer with access, as Stripe's dispute now says."""
    capture = django_capture_on_commit_callbacks
    connect_store(alice_store, standin)
    account = alice_store.stripe_account.stripe_account_id
    _, purchase = _bought(alice_store, standin, capture)
    seen = {e["id"] for e in standin.events(account=account)}
    dispute = standin.call("POST", "/disputes", {"charge": purchase.charge_id})
    standin.call("POST", f"/disputes/{dispute['id']}/status", {"status": "under_review"})
    standin.call("POST", f"/disputes/{dispute['id']}/status", {"status": "won"})
    events = [e for e in standin.events(account=account) if e["id"] not in seen]
    assert [e["type"] for e in events][-3:] == [
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
    ]
    for event in reversed(events):
        with capture(execute=True):
            post_event(main_client(), standin.event_payload(event))
    with in_schema(alice_store):
        purchase.refresh_from_db()
        assert purchase.status == Purchase.Status.PAID
    assert _download_status(alice_store, purchase) == 200
    lookups = standin.requests(f"/v1/disputes/{dispute['id']}")
    assert lookups and all(r["stripe_account"] == account for r in lookups)
