"""Stripe answering 500s, 429s and timeouts for a while, then recovering.

Buyers are told to try again (never shown an error page with nothing to do), webhook
work that needs Stripe is kept and retried with backoff, reconciliation catches up the
payments nobody told us about, and the money adds up exactly afterwards.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from payments.models import Purchase
from payments.platform.models import FeeLedgerEntry, StripeEvent
from payments.services import checkout_start
from payments.stripe_client import StripeFailure
from payments.tasks import reconcile_store
from payments.webhooks import retry_failed_events
from tests.conftest import main_client, store_client
from tests.factories import product_with_file
from tests.payments.conftest import connect_store, post_event

FAILURES = ("500", "429", "timeout")
PRICE = 2500


def _outage_begins(standin, settings) -> None:
    """Every Stripe API call fails from now on, in turn with a 500, a 429 and a timeout."""
    settings.STRIPE_TIMEOUT = 0.5
    for _ in range(40):
        for mode in FAILURES:
            standin.call(
                "POST", "/faults", {"mode": mode, "count": 1, "path_prefix": "/v1", "seconds": 1.0}
            )


def _outage_ends(standin) -> None:
    standin.call("DELETE", "/faults")


def _open_checkout(store, product) -> str:
    """A buyer who reached Stripe Checkout before the outage."""
    with schema_context(store.schema_name):
        session = checkout_start(
            store=store, product=product, attempt=uuid.uuid4().hex,
            success_url=f"http://{store.host}/thanks/?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"http://{store.host}/",
        )  # fmt: skip
    return session.id


def _click(client: Client, page, action: str, fields: dict[str, str] | None = None):
    token = (
        re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1).decode()
    )
    return client.post(action, {"csrfmiddlewaretoken": token, **(fields or {})})


def _stand_in_totals(standin, account: str) -> tuple[set[str], int, int]:
    """What Stripe says was paid on this account: session ids, amounts, platform fees."""
    state = standin.call("GET", "/state")["collections"]
    intents = {pi["id"]: pi for pi in state["payment_intents"]}
    paid = [
        s for s in state["sessions"] if s["_account"] == account and s["payment_status"] == "paid"
    ]
    fees = sum(intents[s["payment_intent"]]["application_fee_amount"] for s in paid)
    return {s["id"] for s in paid}, sum(s["amount_total"] for s in paid), fees


def test_a_stripe_outage_delays_sales_but_loses_and_doubles_none(
    alice_store, standin, settings, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    account = alice_store.stripe_account.stripe_account_id
    product = product_with_file(alice_store, price=PRICE)
    with schema_context(alice_store.schema_name):
        product_url = product.get_absolute_url()
    told = [_open_checkout(alice_store, product) for _ in range(3)]  # their webhooks arrive
    untold = [_open_checkout(alice_store, product) for _ in range(2)]  # theirs are lost
    buyer = Client(enforce_csrf_checks=True, HTTP_HOST=alice_store.host)

    _outage_begins(standin, settings)
    started = time.monotonic()

    # Buy: "try again", whichever way Stripe fails.
    for _ in FAILURES:
        page = buyer.get(product_url)
        assert page.status_code == 200
        response = _click(buyer, page, f"/buy/{product.slug}/")
        assert response.status_code == 503
        assert b"Try again" in response.content
    checkouts = standin.requests("/v1/checkout/sessions")
    hit = {
        r["fault"] for r in checkouts if r["stripe_account"] == account and r["method"] == "POST"
    }
    assert hit >= set(FAILURES)

    # Buyers who were already at Checkout pay; Stripe itself is fine, our calls to it are not.
    emails = {}
    intents = set()
    for i, session_id in enumerate(told + untold):
        emails[session_id] = f"buyer{i}@example.com"
        paid = standin.call("POST", f"/sessions/{session_id}/pay", {"email": emails[session_id]})
        if session_id in told:
            intents.add(paid["session"]["payment_intent"])
    thanks = store_client(alice_store).get(f"/thanks/?session_id={told[0]}")
    assert thanks.status_code == 200  # "we are confirming your payment", not an error

    # Their webhooks arrive, and so does an account update: recorded, failed, scheduled.
    standin.call("POST", f"/accounts/{account}/complete", {"outcome": "complete"})
    events = [
        e for e in standin.events(account=account)
        if (e["type"] == "checkout.session.completed" and e["data"]["object"]["id"] in told)
        or (e["type"] == "payment_intent.succeeded" and e["data"]["object"]["id"] in intents)
    ] + standin.events(account=account, type="account.updated")[-1:]  # fmt: skip
    assert len(events) == 2 * len(told) + 1
    client = main_client()
    for event in events:
        with django_capture_on_commit_callbacks(execute=True):
            assert post_event(client, standin.event_payload(event)).status_code == 200
    inbox = StripeEvent.objects.filter(event_id__in=[e["id"] for e in events])
    assert sorted(inbox.values_list("status", "attempts")) == [
        (StripeEvent.Status.FAILED, 1)
    ] * len(events)
    for row in inbox:
        assert row.last_error
        assert timedelta(seconds=45) < row.next_attempt_at - timezone.now() <= timedelta(minutes=1)

    # Reconciliation during the outage fails loudly and writes nothing.
    with schema_context(alice_store.schema_name), pytest.raises(StripeFailure):
        reconcile_store()
    # The beat respects the backoff: nothing is retried early.
    with django_capture_on_commit_callbacks(execute=True):
        retry_failed_events()
    assert set(inbox.values_list("attempts", flat=True)) == {1}
    with schema_context(alice_store.schema_name):
        assert not Purchase.objects.exists()
    assert time.monotonic() - started < 30  # nothing hung on a stalled Stripe

    _outage_ends(standin)

    # The buyer's "Try again" goes through with the same attempt.
    retried = _click(buyer, response, f"/buy/{product.slug}/", {
        "attempt": re.search(rb'name="attempt" value="([0-9a-f]{32})"', response.content).group(1).decode()
    })  # fmt: skip
    assert retried.status_code == 302 and "/hosted/checkout/cs_" in retried["Location"]

    # The beat's next run, once the backoff has passed, processes every failed event.
    inbox.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert retry_failed_events() >= len(events)
    assert sorted(inbox.values_list("status", "attempts")) == [(StripeEvent.Status.DONE, 2)] * len(
        events
    )

    # Reconciliation finds the payments whose webhooks were lost; a second run adds nothing.
    with schema_context(alice_store.schema_name), django_capture_on_commit_callbacks(execute=True):
        assert reconcile_store() == len(untold)
        assert reconcile_store() == 0
        purchases = list(Purchase.objects.all())

    paid_ids, paid_total, paid_fees = _stand_in_totals(standin, account)
    assert paid_ids == set(told + untold)
    assert sorted(p.checkout_session_id for p in purchases) == sorted(paid_ids)
    assert sum(p.amount for p in purchases) == paid_total == PRICE * len(paid_ids)
    ledger = FeeLedgerEntry.objects.filter(store_id=alice_store.pk)
    assert sorted(ledger.values_list("checkout_session_id", flat=True)) == sorted(paid_ids)
    assert sum(ledger.values_list("platform_fee", flat=True)) == paid_fees
    assert sum(ledger.values_list("amount", flat=True)) == paid_total
    receipts = [m.to for m in mail.outbox if m.subject.startswith("Your receipt")]
    assert sorted(receipts) == sorted([email] for email in emails.values())
