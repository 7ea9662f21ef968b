"""Refunds that talk (issue #12): partial refunds with a reason, the platform fee back in
proportion (as Stripe's Application Fee says), one email per refund, refunds made in the
seller's own Stripe Dashboard recorded the same way, and failed refunds undone.

All through the stand-in over real HTTP with the real `stripe` library; the events are
the stand-in's own, signed as Stripe signs them. Alice owns `alice`, Bob buys from her.
"""

from __future__ import annotations

import csv
import io
import re

import stripe
from django.core import mail

from catalog.discounts import discount_code_create
from catalog.models import DiscountCode
from payments import stripe_client
from payments.models import Purchase, Refund
from payments.platform.models import FeeLedgerEntry, StripeEvent
from payments.refunds import expected_fee_refund, refunds_sync
from tests.conftest import main_client, store_client
from tests.factories import in_schema, product_with_file
from tests.payments.conftest import checkout_session_id, connect_store, events_deliver, post_event

ATTEMPT = "0123456789abcdef0123456789abcdef"


def _bought(store, standin, capture, seen: set[str], *, price: int = 1999, code: str = ""):
    connect_store(store, standin)
    product = product_with_file(store, price=price)
    form = {"attempt": ATTEMPT, **({"code": code} if code else {})}
    session_id = checkout_session_id(store_client(store).post(f"/buy/{product.slug}/", form))
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com"})
    events_deliver(standin, store.stripe_account.stripe_account_id, capture, seen=seen)
    with in_schema(store):
        return Purchase.objects.get(checkout_session_id=session_id)


def _refund(client, sale, amount: str, *, reason="requested_by_customer", note="", attempt=""):
    return client.post(
        f"/dashboard/sales/{sale.uid}/refund/",
        {
            "amount": amount,
            "reason": reason,
            "note": note,
            "attempt": attempt or "amount-" + re.sub(r"\W", "_", amount),
        },
        follow=True,
    )


def _download(store, sale) -> int:
    from payments.services import download_token_for

    with in_schema(store):
        token = download_token_for(Purchase.objects.get(pk=sale.pk), store=store)
    return store_client(store).get(f"/d/{token}/").status_code


def _refund_posts(standin, store) -> list[dict]:
    account = store.stripe_account.stripe_account_id
    return [
        r
        for r in standin.requests("/v1/refunds")
        if r["method"] == "POST" and r["stripe_account"] == account
    ]


def _refund_mails() -> list:
    return [m for m in mail.outbox if m.subject.startswith("Refund from")]


def _fee_refunded_at_stripe(store, sale) -> int:
    charge = stripe_client.charge_refunds(
        account_id=store.stripe_account.stripe_account_id, charge_id=sale.charge_id
    )
    return stripe_client.application_fee_refunded(charge.application_fee_id)


def test_the_fee_rule_is_proportional_cumulative_and_whole_on_a_full_refund():
    assert expected_fee_refund(fee=130, amount=1999, refunded=500) == 33  # 32.516 → 33
    assert expected_fee_refund(fee=130, amount=1999, refunded=1999) == 130
    assert expected_fee_refund(fee=130, amount=1999, refunded=1) == 0  # 0.065 → 0
    assert expected_fee_refund(fee=130, amount=2000, refunded=1000) == 65
    assert expected_fee_refund(fee=5, amount=100, refunded=50) == 3  # 2.5 rounds half up


def test_a_partial_then_a_full_refund_returns_the_fee_in_proportion_and_emails_twice(
    alice, alice_store, standin, django_capture_on_commit_callbacks
):
    capture, seen = django_capture_on_commit_callbacks, set()
    alice_store.support_email = "help@alice.example"
    alice_store.save()
    sale = _bought(alice_store, standin, capture, seen)
    assert (sale.amount, sale.platform_fee) == (1999, 130)  # 5 % + 30¢
    account = alice_store.stripe_account.stripe_account_id
    client = store_client(alice_store, alice)
    mail.outbox.clear()

    with capture(execute=True):
        page = _refund(client, sale, "5.00", note="Sorry: chapter 3 was missing its maps.")
    assert b"Refunded $5.00 to bob@example.com; $14.99 remains." in page.content, re.findall(
        rb"<div class=\"(?:msg|alert|message)[^>]*>.*?</div>", page.content, re.S
    )
    made = _refund_posts(standin, alice_store)
    assert len(made) == 1
    params = made[0]["params"]
    assert (params["amount"], params["reason"]) == ("500", "requested_by_customer")
    assert params["refund_application_fee"] in ("true", True)
    assert "note" not in params["metadata"]  # the note is ours (and the buyer's), not Stripe's
    with in_schema(alice_store):
        sale.refresh_from_db()
        first = Refund.objects.get()
        assert sale.status == "paid" and sale.amount_refunded == 500
        # What Stripe's Application Fee says came back: 130 * 500 / 1999 = 32.5, so 33.
        assert sale.fee_refunded == _fee_refunded_at_stripe(alice_store, sale) == 33
        assert (first.amount, first.fee_refunded, first.status) == (500, 33, "succeeded")
    assert _download(alice_store, sale) == 200  # a partial refund keeps the download
    [told] = _refund_mails()
    assert told.to == ["bob@example.com"] and told.reply_to == ["help@alice.example"]
    assert "$5.00" in told.subject
    assert "What remains: $14.99" in told.body and "Requested by the buyer" in told.body
    assert "chapter 3 was missing its maps" in told.body and "&#x27;" not in told.body
    assert "Your download stays available" in told.body

    # Stripe's events for it (charge.refunded, refund.created, and the platform's
    # application_fee.refunded on its own endpoint): nothing changes, no second email.
    rows = events_deliver(standin, account, capture, seen=seen)
    assert {r.type for r in rows} == {"charge.refunded", "refund.created"}
    assert all(r.status == StripeEvent.Status.DONE for r in rows)
    assert len(_refund_mails()) == 1

    with capture(execute=True):
        page = _refund(client, sale, "14.99", reason="duplicate")
    assert b"refunded in full and their download link no longer works" in page.content
    events_deliver(standin, account, capture, seen=seen)
    with in_schema(alice_store):
        sale.refresh_from_db()
        second = Refund.objects.exclude(pk=first.pk).get()
        assert sale.status == "refunded" and sale.amount_refunded == 1999
        assert sale.fee_refunded == _fee_refunded_at_stripe(alice_store, sale) == 130
        assert second.fee_refunded == 130 - 33
    ledger = FeeLedgerEntry.objects.get(checkout_session_id=sale.checkout_session_id)
    assert (ledger.status, ledger.amount_refunded, ledger.fee_refunded) == ("refunded", 1999, 130)
    assert _download(alice_store, sale) == 410
    assert len(_refund_mails()) == 2
    last = _refund_mails()[-1]
    assert "$14.99" in last.subject and "refunded in full" in last.body
    assert "Duplicate payment" in last.body and "no longer works" in last.body

    # Every event delivered again (Stripe retries), and the sync run again: no third email.
    for event in standin.events(account=account):
        with capture(execute=True):
            answer = post_event(main_client(), standin.event_payload(event)).json()
        assert answer["duplicate"] is True
    with capture(execute=True), in_schema(alice_store):
        refunds_sync(store=alice_store, payment_intent_id=sale.payment_intent_id)
        from payments.refunds import refund_notify_task

        assert refund_notify_task(first.pk) is False and refund_notify_task(second.pk) is False
        assert Refund.objects.count() == 2
    assert len(_refund_mails()) == 2

    # The sales list and its CSV show what went back.
    listing = client.get("/dashboard/sales/").content.decode()
    assert "refunded −$19.99" in listing
    rows = list(csv.DictReader(io.StringIO(_streamed(client.get("/dashboard/sales.csv")).decode())))
    assert (rows[0]["refunded"], rows[0]["fee_refunded"], rows[0]["status"]) == (
        "19.99",
        "1.30",
        "refunded",
    )


def _streamed(response) -> bytes:
    return b"".join(response.streaming_content)


def test_junk_too_much_and_already_refunded_amounts_say_so_and_reach_no_stripe(
    alice, alice_store, standin, django_capture_on_commit_callbacks
):
    capture, seen = django_capture_on_commit_callbacks, set()
    sale = _bought(alice_store, standin, capture, seen)
    client = store_client(alice_store, alice)
    answers = {
        "abc": "“abc” is not an amount: write it like 5 or 5.50.",
        "5.555": "“5.555” is not an amount",
        "-3": "“-3” is not an amount",
        "0": "The refund must be more than zero.",
        "": "Enter the amount to refund.",
        "20.00": "Only $19.99 of this sale is left to refund; $20.00 is more than that.",
    }
    for n, (typed, said) in enumerate(answers.items()):
        page = _refund(client, sale, typed, attempt=f"junk-attempt-{n}")
        assert said.encode() in page.content, typed
    page = _refund(client, sale, "1.00", reason="because", attempt="bad-reason")
    assert b"Choose a reason for the refund." in page.content
    page = _refund(client, sale, "1.00", attempt="x")
    assert b"This form is out of date" in page.content
    assert not _refund_posts(standin, alice_store)

    with capture(execute=True):
        _refund(client, sale, "$19.99", reason="fraudulent")
    page = _refund(client, sale, "1", attempt="after-full")
    assert b"This sale has already been refunded in full." in page.content
    assert len(_refund_posts(standin, alice_store)) == 1
    with in_schema(alice_store):
        assert Refund.objects.get().reason == "fraudulent"


def test_a_refund_made_in_the_sellers_stripe_dashboard_is_recorded_the_same_way(
    alice, alice_store, standin, django_capture_on_commit_callbacks
):
    """Alice refunds $7.00 with her own key (as her Stripe Dashboard does): the webhook is
    all we hear. Stripe returns none of our fee for it, and the ledger says so."""
    capture, seen = django_capture_on_commit_callbacks, set()
    sale = _bought(alice_store, standin, capture, seen)
    account = alice_store.stripe_account.stripe_account_id
    key = standin.call("POST", f"/accounts/{account}/keys")["secret_key"]
    own = stripe.StripeClient(key, base_addresses={"api": standin.base})
    own.v1.refunds.create(
        params={"payment_intent": sale.payment_intent_id, "amount": 700, "reason": "duplicate"}
    )
    mail.outbox.clear()
    rows = events_deliver(standin, account, capture, seen=seen)
    assert [r.status for r in rows] == [StripeEvent.Status.DONE] * 2
    with in_schema(alice_store):
        sale.refresh_from_db()
        refund = Refund.objects.get()
        assert (refund.source, refund.amount, refund.reason) == ("stripe", 700, "duplicate")
        assert (sale.status, sale.amount_refunded, sale.fee_refunded) == ("paid", 700, 0)
    assert _fee_refunded_at_stripe(alice_store, sale) == 0
    [told] = _refund_mails()
    assert "$7.00" in told.subject and "What remains: $12.99" in told.body
    assert _download(alice_store, sale) == 200
    # The dashboard's list shows it; a refund of the rest from the sales list ends access.
    assert (
        "refunded −$7.00"
        in store_client(alice_store, alice).get("/dashboard/sales/").content.decode()
    )
    with capture(execute=True):
        _refund(store_client(alice_store, alice), sale, "12.99")
    events_deliver(standin, account, capture, seen=seen)
    with in_schema(alice_store):
        sale.refresh_from_db()
        assert sale.status == "refunded" and sale.amount_refunded == 1999
        # Only the 12.99 we refunded carries fee back: Stripe's figure, recorded as is.
        assert sale.fee_refunded == _fee_refunded_at_stripe(alice_store, sale) > 0
    assert len(_refund_mails()) == 2


def test_a_refund_that_fails_gives_the_access_and_the_code_use_back(
    alice, alice_store, standin, django_capture_on_commit_callbacks
):
    capture, seen = django_capture_on_commit_callbacks, set()
    with in_schema(alice_store):
        discount_code_create(code="ONCE", kind="percent", value="10", max_uses=1)
    sale = _bought(alice_store, standin, capture, seen, price=2000, code="once")
    assert (sale.amount, sale.discount) == (1800, 200)
    account = alice_store.stripe_account.stripe_account_id
    with in_schema(alice_store):
        assert DiscountCode.objects.get().uses == 1
    with capture(execute=True):
        _refund(store_client(alice_store, alice), sale, "18.00")
    events_deliver(standin, account, capture, seen=seen)
    assert _download(alice_store, sale) == 410
    with in_schema(alice_store):
        assert DiscountCode.objects.get().uses == 0  # the refunded order gives its use back
        refund = Refund.objects.get()

    standin.call(
        "POST", f"/refunds/{refund.stripe_refund_id}/fail", {"reason": "expired_or_canceled_card"}
    )
    rows = events_deliver(standin, account, capture, seen=seen)
    assert [r.type for r in rows] == ["refund.updated", "charge.refund.updated", "refund.failed"]
    with in_schema(alice_store):
        sale.refresh_from_db()
        refund.refresh_from_db()
        assert (refund.status, refund.failure_reason) == ("failed", "expired_or_canceled_card")
        assert (sale.status, sale.amount_refunded, sale.refunded_at) == ("paid", 0, None)
        assert DiscountCode.objects.get().uses == 1
    assert _download(alice_store, sale) == 200
    ledger = FeeLedgerEntry.objects.get(checkout_session_id=sale.checkout_session_id)
    assert (ledger.status, ledger.amount_refunded) == ("paid", 0)
    # The whole amount can be refunded again.
    with capture(execute=True):
        page = _refund(store_client(alice_store, alice), sale, "18.00", attempt="again-18")
    assert b"refunded in full" in page.content


def test_a_taxed_sale_refunds_what_the_card_was_charged_tax_included(
    alice, alice_store, standin, django_capture_on_commit_callbacks
):
    """Stripe Tax adds the tax on top of the price: the card was charged 20.00 + 1.40 VAT,
    so 21.40 is what can come back, and only all of it is a full refund (Stripe's
    charge.refunded turns true then, and the fee share is Stripe's, on the charge)."""
    from tenants.services import store_update_settings

    capture, seen = django_capture_on_commit_callbacks, set()
    connect_store(alice_store, standin)
    store = store_update_settings(store=alice_store, tax_enabled=True)
    product = product_with_file(store, price=2000)
    session_id = checkout_session_id(
        store_client(store).post(f"/buy/{product.slug}/", {"attempt": ATTEMPT})
    )
    standin.call(
        "POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com", "country": "DE"}
    )
    account = store.stripe_account.stripe_account_id
    events_deliver(standin, account, capture, seen=seen)
    with in_schema(store):
        sale = Purchase.objects.get(checkout_session_id=session_id)
    assert (sale.amount, sale.tax_amount, sale.total_charged) == (2000, 140, 2140)
    client = store_client(store, alice)

    with capture(execute=True):
        page = _refund(client, sale, "20.00")
    assert b"$1.40 remains" in page.content
    events_deliver(standin, account, capture, seen=seen)
    with in_schema(store):
        sale.refresh_from_db()
        assert sale.status == "paid" and sale.amount_refunded == 2000
    assert _download(store, sale) == 200  # 1.40 of the charge is still the buyer's payment

    with capture(execute=True):
        too_much = _refund(client, sale, "1.50")
    assert b"Only $1.40 of this sale is left to refund" in too_much.content
    with capture(execute=True):
        _refund(client, sale, "1.40")
    events_deliver(standin, account, capture, seen=seen)
    with in_schema(store):
        sale.refresh_from_db()
        assert sale.status == "refunded" and sale.amount_refunded == 2140
        assert sale.fee_refunded == _fee_refunded_at_stripe(store, sale) == sale.platform_fee
    assert _download(store, sale) != 200
    assert len(_refund_mails()) == 2
