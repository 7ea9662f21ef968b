"""Pay what you want (issue #12): the buyer types the amount on the product page (a cached
page: the POST carries it), the Checkout Session charges exactly that, the fee is on it;
the minimum, Stripe's smallest charge and the cap hold, and junk is refused with a message
beside the field and what was typed still in it; 0 on a min-0 product is a free order;
a code lowers the minimum, and is used only when it was needed.

Through the stand-in over real HTTP. Alice owns `alice`, Bob buys.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django_tenants.utils import schema_context

from catalog.discounts import discount_code_create
from catalog.models import DiscountCode, Product
from payments.models import CheckoutRecord, CodeHold, Purchase
from payments.platform.models import FeeLedgerEntry
from tests.conftest import main_client, store_client
from tests.factories import in_schema, product_with_file
from tests.payments.conftest import connect_store, post_event

AMOUNT_FIELD = re.compile(r'<input id="amount" name="amount"[^>]*value="([^"]*)"')


def pwyw_product(store, *, minimum: int = 500, suggested: int | None = 1500, **kwargs) -> Product:
    product = product_with_file(store, price=max(minimum, 1), **kwargs)
    with in_schema(store):
        Product.objects.filter(pk=product.pk).update(
            pay_what_you_want=True, price=minimum, suggested_price=suggested
        )
        product.refresh_from_db()
    return product


def _buy(store, product, amount: str, *, attempt: str, code: str = "", email: str = ""):
    data = {"attempt": attempt, "amount": amount}
    if code:
        data["code"] = code
    if email:
        data["email"] = email
    return store_client(store).post(f"/buy/{product.slug}/", data)


def _sessions(standin, store) -> list[dict]:
    return [
        r["params"]
        for r in standin.requests("/v1/checkout/sessions")
        if r["method"] == "POST"
        and r["params"].get("metadata", {}).get("store") == store.schema_name
    ]


def _unit_amount(params: dict) -> int:
    items = params["line_items"]
    item = items["0"] if isinstance(items, dict) else items[0]
    return int(item["price_data"]["unit_amount"])


def _pay_and_deliver(standin, store, response, capture, email="bob@example.com") -> Purchase:
    session_id = re.search(r"/hosted/checkout/(cs_[A-Za-z0-9_]+)", response["Location"]).group(1)
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": email})
    account = store.stripe_account.stripe_account_id
    for event in standin.events(account=account):
        with capture(execute=True):
            assert post_event(main_client(), standin.event_payload(event)).status_code == 200
    with in_schema(store):
        return Purchase.objects.get(checkout_session_id=session_id)


def test_the_cached_product_page_shows_from_price_and_the_amount_field_and_the_post_carries_it(
    alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    product = pwyw_product(alice_store, minimum=500, suggested=1500)
    anonymous = store_client(alice_store)
    first = anonymous.get(f"/p/{product.slug}/").content.decode()
    second = anonymous.get(f"/p/{product.slug}/").content.decode()  # from the page cache
    for page in (first, second):
        assert '<span class="price">$5.00+</span>' in page
        assert AMOUNT_FIELD.search(page).group(1) == "15.00"  # the suggested price
        assert "Minimum $5.00" in page and "suggested $15.00" in page
        assert '<label for="amount">' in page
    assert "$5.00+" in anonymous.get("/").content.decode()  # the storefront card

    # The cached page's form, filled in by Bob: what he typed is what Stripe charges.
    attempt = re.search(r'name="attempt" value="([0-9a-f]{32})"', second).group(1)
    response = _buy(alice_store, product, "12,50", attempt=attempt)
    assert response.status_code == 302
    created = _sessions(standin, alice_store)[-1]
    assert _unit_amount(created) == 1250
    # The fee is on the amount paid: 5 % of 12.50 + 0.30.
    assert int(created["payment_intent_data"]["application_fee_amount"]) == 93
    purchase = _pay_and_deliver(standin, alice_store, response, django_capture_on_commit_callbacks)
    assert (purchase.amount, purchase.platform_fee, purchase.discount, purchase.code) == (
        1250,
        93,
        0,
        None,
    )
    receipt = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    assert "Amount paid: $12.50" in receipt.body


@pytest.mark.parametrize(
    ("typed", "charged"),
    [("5", 500), ("5.00", 500), ("$7.5", 750), ("1 000", 100000), ("1000.00", 100000)],
)
def test_amounts_at_the_bounds_are_charged_as_typed(alice_store, standin, typed, charged):
    connect_store(alice_store, standin)
    product = pwyw_product(alice_store, minimum=500, suggested=1500)  # cap: $1,000.00
    response = _buy(alice_store, product, typed, attempt="a" * 32)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _unit_amount(_sessions(standin, alice_store)[-1]) == charged


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("4.99", "The minimum for this product is $5.00."),
        ("0", "The minimum for this product is $5.00."),
        ("1000.01", "The most you can pay here is $1,000.00."),
        ("99999999", "The most you can pay here is $1,000.00."),
        ("abc", "“abc” is not a number."),
        ("1e9", "“1e9” is not a number."),
        ("-5", "Enter an amount of zero or more."),
        ("12.345", "could be $12,345.00"),
        ("12.3.4", "is not a number we can read"),
        ("", "Enter the amount you want to pay."),
        ("<b>9</b>", "is not a number."),
        ("9" * 40, "That is not an amount we can read."),
    ],
)
def test_too_low_too_high_and_junk_amounts_say_why_and_keep_what_was_typed(
    alice_store, standin, typed, message
):
    connect_store(alice_store, standin)
    product = pwyw_product(alice_store, minimum=500, suggested=1500)
    response = _buy(alice_store, product, typed, attempt="b" * 32)
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page.replace("&#x27;", "'"), page[:3000]
    # The product page again, the message beside the field, the typed text still in it.
    assert 'id="amount-error" role="alert"' in page and 'aria-invalid="true"' in page
    kept = AMOUNT_FIELD.search(page).group(1)
    assert kept == typed[:64].replace("<", "&lt;").replace(">", "&gt;")
    assert not _sessions(standin, alice_store)


def test_a_cap_follows_a_sellers_high_suggested_price(alice_store, standin):
    connect_store(alice_store, standin)
    product = pwyw_product(alice_store, minimum=5000, suggested=20000)  # cap: 10 times $200
    assert _buy(alice_store, product, "2000", attempt="c" * 32).status_code == 302
    refused = _buy(alice_store, product, "2000.01", attempt="d" * 32)
    assert "The most you can pay here is $2,000.00." in refused.content.decode()


def test_zero_on_a_min_zero_product_is_a_free_order_and_cents_below_stripes_minimum_are_refused(
    alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    product = pwyw_product(alice_store, minimum=0, suggested=None)
    page = store_client(alice_store).get(f"/p/{product.slug}/").content.decode()
    assert '<span class="price">$0.00+</span>' in page and "or 0 to get it free" in page
    assert 'id="buyer-email" type="email"' in page and "Get it" in page
    before = len(standin.requests("/v1/"))

    cents = _buy(alice_store, product, "0.20", attempt="e" * 32, email="bob@example.com")
    assert cents.status_code == 400
    assert "Card payments start at $0.50: enter $0.50 or more, or 0 to get it free." in (
        cents.content.decode()
    )
    no_email = _buy(alice_store, product, "0", attempt="e" * 32)
    assert no_email.status_code == 400
    text = no_email.content.decode()
    assert "Enter your email address: the download link goes there." in text
    assert AMOUNT_FIELD.search(text).group(1) == "0"
    with django_capture_on_commit_callbacks(execute=True):
        free = _buy(alice_store, product, "0", attempt="e" * 32, email="Bob@Example.com")
    assert free.status_code == 302 and free["Location"].startswith("/thanks/?order=")
    again = _buy(alice_store, product, "0.00", attempt="e" * 32, email="bob@example.com")
    assert again["Location"] == free["Location"]  # a double click: the same order
    assert len(standin.requests("/v1/")) == before  # Stripe never heard of it
    with in_schema(alice_store):
        purchase = Purchase.objects.get()
        assert (purchase.amount, purchase.platform_fee, purchase.buyer_email) == (
            0,
            0,
            "bob@example.com",
        )
    assert FeeLedgerEntry.objects.get(purchase_uid=purchase.uid).platform_fee == 0
    receipt = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    assert "Amount paid: $0.00" in receipt.body

    # Paying something for it is a normal sale.
    paid = _buy(alice_store, product, "3", attempt="f" * 32)
    assert paid.status_code == 302 and _unit_amount(_sessions(standin, alice_store)[-1]) == 300


def _code(store, **kwargs) -> DiscountCode:
    with in_schema(store):
        return discount_code_create(**kwargs)


def test_a_code_lowers_the_minimum_not_the_amount_typed(
    alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    product = pwyw_product(alice_store, minimum=800, suggested=1200)
    _code(alice_store, code="FRIENDS", kind="percent", value="25", max_uses=5)

    page = store_client(alice_store).get(f"/p/{product.slug}/?code=friends").content.decode()
    assert '<span class="price">$6.00+</span>' in page
    assert "Code FRIENDS: the minimum is $6.00 instead of $8.00" in page
    assert 'name="code" value="FRIENDS"' in page and "Minimum $6.00" in page

    too_low = _buy(alice_store, product, "5.99", attempt="1" * 32, code="FRIENDS")
    assert too_low.status_code == 400
    assert "With code FRIENDS the minimum is $6.00." in too_low.content.decode()

    # Typing the full minimum or more: the code is not needed, so it is not used.
    full = _buy(alice_store, product, "10", attempt="2" * 32, code="FRIENDS")
    assert full.status_code == 302
    created = _sessions(standin, alice_store)[-1]
    assert _unit_amount(created) == 1000 and "discount_code" not in created["metadata"]
    with in_schema(alice_store):
        assert not CodeHold.objects.exists()
        assert CheckoutRecord.objects.get().code is None

    # Under the regular minimum: the code is needed, held, counted, and the discount is
    # what the buyer paid under the regular minimum.
    low = _buy(alice_store, product, "6.50", attempt="3" * 32, code="friends")
    assert low.status_code == 302
    created = _sessions(standin, alice_store)[-1]
    assert _unit_amount(created) == 650
    assert int(created["payment_intent_data"]["application_fee_amount"]) == 63  # on 6.50
    assert created["metadata"]["discount_code"] == "FRIENDS"
    purchase = _pay_and_deliver(standin, alice_store, low, django_capture_on_commit_callbacks)
    with in_schema(alice_store):
        purchase.refresh_from_db()
        assert (purchase.amount, purchase.discount, purchase.code.code) == (650, 150, "FRIENDS")
        assert DiscountCode.objects.get().uses == 1
    receipt = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    assert "Price: $8.00" in receipt.body and "Discount (code FRIENDS): -$1.50" in receipt.body
    assert "Amount paid: $6.50" in receipt.body


def test_a_100_percent_code_on_a_pwyw_product_allows_zero_as_a_free_order(
    alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    product = pwyw_product(alice_store, minimum=500, suggested=900)
    _code(alice_store, code="GIFT", kind="percent", value="100")
    with django_capture_on_commit_callbacks(execute=True):
        free = _buy(alice_store, product, "0", attempt="4" * 32, code="GIFT", email="c@example.com")
    assert free.status_code == 302 and free["Location"].startswith("/thanks/?order=")
    with in_schema(alice_store):
        purchase = Purchase.objects.get()
        assert (purchase.amount, purchase.discount, purchase.code.code) == (0, 500, "GIFT")
    # Without the code, 0 is below the minimum.
    refused = _buy(alice_store, product, "0", attempt="5" * 32, email="d@example.com")
    assert "The minimum for this product is $5.00." in refused.content.decode()


def test_a_used_up_code_keeps_the_amount_typed(alice_store, standin):
    connect_store(alice_store, standin)
    product = pwyw_product(alice_store, minimum=800, suggested=None)
    _code(alice_store, code="ONE", kind="fixed", value="3", currency="usd", max_uses=1)
    assert _buy(alice_store, product, "5", attempt="6" * 32, code="ONE").status_code == 302
    taken = _buy(alice_store, product, "5.25", attempt="7" * 32, code="ONE")
    assert taken.status_code == 409
    page = taken.content.decode()
    assert "This code has been used up." in page
    assert AMOUNT_FIELD.search(page).group(1) == "5.25"


def test_a_yen_product_takes_whole_yen(alice_store, standin):
    connect_store(alice_store, standin)
    product = pwyw_product(alice_store, minimum=100, suggested=500, currency="jpy")
    assert _buy(alice_store, product, "1,250", attempt="8" * 32).status_code == 302
    assert _unit_amount(_sessions(standin, alice_store)[-1]) == 1250
    decimals = _buy(alice_store, product, "12.5", attempt="9" * 32)
    assert "JPY amounts take no decimals." in decimals.content.decode()
    with schema_context(alice_store.schema_name):
        assert CheckoutRecord.objects.get().amount == 1250
