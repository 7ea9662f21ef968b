"""Bob pays Alice $19.99; Stripe keeps its processing fee (2.9 % + 30¢ in the stand-in)
and the platform its fee. Alice's purchase records both and the net, read from the
charge's balance transaction on her account, whether Stripe has it at checkout or only
later (charge.updated, or the backfill). Her balance and payouts come from her connected
account; Mallory sees none of it."""

from __future__ import annotations

import re

from payments.balances import store_fees_backfill, store_money
from payments.models import Purchase
from payments.platform.models import StripeEvent
from tests.conftest import store_client
from tests.factories import in_schema, product_with_file
from tests.payments.conftest import checkout_session_id, connect_store, events_deliver

ATTEMPT = "fee0123456789abcdef0123456789ab"


def _pay(store, standin, capture, seen, *, price=1999, attempt=ATTEMPT) -> Purchase:
    product = product_with_file(store, price=price)
    response = store_client(store).post(f"/buy/{product.slug}/", {"attempt": attempt})
    session_id = checkout_session_id(response)
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com"})
    events_deliver(standin, store.stripe_account.stripe_account_id, capture, seen=seen)
    with in_schema(store):
        return Purchase.objects.get(checkout_session_id=session_id)


def test_the_sale_records_stripes_fee_and_the_net_from_the_balance_transaction(
    alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    sale = _pay(alice_store, standin, django_capture_on_commit_callbacks, set())
    stripe_fee = (1999 * 29 + 500) // 1000 + 30  # 2.9 % + 30¢, rounded half up: 88
    assert sale.platform_fee == 130
    assert sale.stripe_fee == stripe_fee == 88
    assert sale.seller_net == 1999 - 130 - 88
    assert sale.settlement_currency == "usd"
    assert sale.balance_transaction_id.startswith("txn_")
    # Read as Stripe allows: the charge's balance transaction expanded, on her account.
    account = alice_store.stripe_account.stripe_account_id
    reads = [
        r
        for r in standin.requests("/v1/checkout/sessions/")
        if r["method"] == "GET" and r["stripe_account"] == account
    ]
    assert reads, "the session was read back from Stripe"


def test_a_balance_transaction_stripe_makes_later_arrives_with_charge_updated(
    alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    account = alice_store.stripe_account.stripe_account_id
    standin.call("POST", f"/accounts/{account}/settle_later", {"on": True})
    seen: set[str] = set()
    sale = _pay(alice_store, standin, django_capture_on_commit_callbacks, seen)
    assert sale.charge_id and sale.stripe_fee is None and sale.seller_net is None
    with in_schema(alice_store):
        assert store_fees_backfill(store=alice_store) == 0  # Stripe still has none
    standin.call("POST", f"/charges/{sale.charge_id}/settle")
    rows = events_deliver(standin, account, django_capture_on_commit_callbacks, seen=seen)
    updated = next(r for r in rows if r.type == "charge.updated")
    assert updated.status == StripeEvent.Status.DONE, updated.last_error
    with in_schema(alice_store):
        sale = Purchase.objects.get(pk=sale.pk)
    assert (sale.stripe_fee, sale.seller_net) == (88, 1999 - 130 - 88)


def test_the_backfill_finds_fees_a_lost_charge_updated_never_brought(
    alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    account = alice_store.stripe_account.stripe_account_id
    standin.call("POST", f"/accounts/{account}/settle_later", {"on": True})
    sale = _pay(alice_store, standin, django_capture_on_commit_callbacks, set())
    standin.call("POST", f"/charges/{sale.charge_id}/settle")  # the event is never posted
    with in_schema(alice_store):
        assert store_fees_backfill(store=alice_store) == 1
        assert store_fees_backfill(store=alice_store) == 0  # recorded once
        sale = Purchase.objects.get(pk=sale.pk)
    assert sale.stripe_fee == 88


def test_alices_balance_and_payouts_come_from_her_account_cached_briefly(
    alice_store, mallory_store, standin, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    connect_store(alice_store, standin)
    connect_store(mallory_store, standin)
    account = alice_store.stripe_account.stripe_account_id
    seen: set[str] = set()
    _pay(alice_store, standin, django_capture_on_commit_callbacks, seen)
    _pay(alice_store, standin, django_capture_on_commit_callbacks, seen, attempt="b" * 32)
    net = 1999 - 130 - 88
    with in_schema(alice_store):
        money = store_money(store=alice_store)
    assert money.error == ""
    assert [(m.amount, m.currency) for m in money.balance.pending] == [(2 * net, "usd")]
    assert [(m.amount, m.currency) for m in money.balance.available] == [(0, "usd")]
    assert money.payouts == []

    standin.call("POST", f"/accounts/{account}/available")
    standin.call("POST", f"/accounts/{account}/payouts", {"amount": net})
    with in_schema(alice_store):
        assert store_money(store=alice_store) == money  # cached for a minute
    cache.clear()
    with in_schema(alice_store):
        money = store_money(store=alice_store)
    assert [(m.amount, m.currency) for m in money.balance.available] == [(net, "usd")]
    assert [(m.amount, m.currency) for m in money.balance.pending] == [(0, "usd")]
    assert [(p.amount, p.currency, p.status) for p in money.payouts] == [(net, "usd", "paid")]
    calls = [r for r in standin.requests("/v1/") if r["path"] in ("/v1/balance", "/v1/payouts")]
    assert calls and all(r["stripe_account"] == account for r in calls)

    # Mallory's account has none of Alice's money.
    with in_schema(mallory_store):
        theirs = store_money(store=mallory_store)
    assert [(m.amount) for m in theirs.balance.available + theirs.balance.pending] == [0, 0]
    assert theirs.payouts == []


def test_a_refund_takes_the_amount_back_from_the_balance_but_not_stripes_fee(
    alice_store, standin, django_capture_on_commit_callbacks
):
    from payments.refunds import refund_request

    connect_store(alice_store, standin)
    sale = _pay(alice_store, standin, django_capture_on_commit_callbacks, set())
    with in_schema(alice_store):
        refund_request(
            store=alice_store,
            purchase=sale,
            amount_text="19.99",
            reason="requested_by_customer",
            note="",
            attempt="refund-" + "r" * 26,
            refund_application_fee=True,
        )
        money = store_money(store=alice_store)
    # 1999 - 130 - 88 in (pending), 1999 out and the platform's 130 back (at once):
    # Stripe's 88 is gone for good.
    assert [m.amount for m in money.balance.pending] == [1999 - 130 - 88]
    assert [m.amount for m in money.balance.available] == [-1999 + 130]


def test_the_overview_shows_alices_net_balance_and_payouts_and_mallorys_shows_none(
    alice, alice_store, mallory, mallory_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    connect_store(mallory_store, standin)
    account = alice_store.stripe_account.stripe_account_id
    seen: set[str] = set()
    _pay(alice_store, standin, django_capture_on_commit_callbacks, seen)
    _pay(alice_store, standin, django_capture_on_commit_callbacks, seen, attempt="c" * 32)
    standin.call("POST", f"/accounts/{account}/available")
    standin.call("POST", f"/accounts/{account}/payouts", {"amount": 1000})

    html = store_client(alice_store, alice).get("/dashboard/").content.decode()
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "Net, after fees $35.62" in page  # 2 x (19.99 - 1.30 - 0.88)
    assert "Platform $2.60 · Stripe $1.76" in page
    assert "Available $25.62" in page and "Pending $0.00" in page  # 35.62 - 10.00 paid out
    assert re.search(r"\$10\.00 Paid", page)

    theirs = store_client(mallory_store, mallory).get("/dashboard/").content.decode()
    assert "$25.62" not in theirs and "$35.62" not in theirs and "$10.00" not in theirs
    assert "No payouts yet." in theirs
    assert store_client(alice_store, mallory).get("/dashboard/").status_code == 403
