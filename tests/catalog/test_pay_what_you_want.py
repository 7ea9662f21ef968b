"""Alice makes a product pay-what-you-want from her dashboard: the price becomes the
minimum (0: free, paying optional, or at least Stripe's minimum charge), the suggested
price is optional and at least the minimum; bad input is refused beside its field and
nothing typed is lost; the product publishes with a 0 minimum; Mallory cannot touch it.
(The buyer's side is in tests/payments/test_pay_what_you_want.py.)"""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from catalog.models import Product
from catalog.pwyw import pwyw_cap
from catalog.services import product_delete
from tests.catalog.test_dashboard import BASE, form, only_product
from tests.conftest import store_client


def test_alice_creates_a_pay_what_you_want_product_with_a_minimum_and_a_suggestion(
    alice, alice_charging
):
    client = store_client(alice_charging, alice)
    page = client.get(BASE + "new/").content.decode()
    assert "Let buyers pay what they want" in page and "Suggested price" in page
    response = client.post(
        BASE + "new/", form(price="4", pay_what_you_want="on", suggested_price="9,50")
    )
    assert response.status_code == 302
    product = only_product(alice_charging)
    assert (product.pay_what_you_want, product.price, product.suggested_price) == (
        True,
        400,
        950,
    )
    assert product.price_label == "$4.00+"
    edit = client.get(response["Location"]).content.decode()
    assert 'name="suggested_price" value="9.50"' in edit and 'name="price" value="4.00"' in edit
    assert client.post(f"{BASE}{product.uid}/publish/").status_code == 302
    assert only_product(alice_charging).status == Product.Status.PUBLISHED
    assert "$4.00+" in client.get(BASE).content.decode()


def test_a_zero_minimum_is_free_with_optional_payment_and_publishes(alice, alice_charging):
    client = store_client(alice_charging, alice)
    response = client.post(BASE + "new/", form(price="0", pay_what_you_want="on"))
    assert response.status_code == 302
    product = only_product(alice_charging)
    assert (product.price, product.suggested_price, product.price_label) == (0, None, "$0.00+")
    assert client.post(f"{BASE}{product.uid}/publish/").status_code == 302
    assert only_product(alice_charging).status == Product.Status.PUBLISHED
    # Without pay what you want, 0 is not a price.
    with schema_context(alice_charging.schema_name):
        product_delete(product=Product.objects.get(), has_sales=False)
    fixed = client.post(BASE + "new/", form(price="0"))
    assert fixed.status_code == 400 and "more than zero" in fixed.content.decode()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"price": "0.20"}, "price", "The lowest price Stripe can charge in USD is $0.50."),
        ({"price": "-1"}, "price", "Enter an amount of zero or more."),
        ({"price": "abc"}, "price", "“abc” is not a number."),
        ({"price": ""}, "price", "Enter the minimum buyers pay: 0 lets them get it free."),
        ({"price": "10", "suggested_price": "8"}, "suggested_price", "at least the minimum ($10.00)"),
        ({"price": "0", "suggested_price": "0.10"}, "suggested_price", "lowest price Stripe can charge"),
        ({"price": "1", "suggested_price": "1e3"}, "suggested_price", "“1e3” is not a number."),
        ({"price": "1", "suggested_price": "1.234"}, "suggested_price", "could be $1,234.00"),
        ({"price": "1000000000"}, "price", "The highest price is $999,999.99."),
    ],
)  # fmt: skip
def test_bad_minimums_and_suggestions_are_refused_beside_their_field_and_kept(
    alice, alice_store, fields, field, message
):
    client = store_client(alice_store, alice)
    data = form(pay_what_you_want="on", **fields)
    response = client.post(BASE + "new/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert message in " ".join(response.context["form"].errors[field])
    for name, typed in fields.items():
        if typed:
            assert f'name="{name}" value="{typed}"' in response.content.decode()
    with schema_context(alice_store.schema_name):
        assert not Product.objects.exists()


def test_a_minimum_below_what_stripe_charges_in_the_settlement_currency_is_refused(
    alice, alice_store
):
    """Alice's account settles in AED: a $0.60 minimum may convert below AED 2.00."""
    from catalog.hooks import register_settlement_currency

    previous = register_settlement_currency(lambda: "aed")
    try:
        response = store_client(alice_store, alice).post(
            BASE + "new/", form(price="0.60", currency="usd", pay_what_you_want="on")
        )
    finally:
        register_settlement_currency(previous)
    assert response.status_code == 400
    assert "Your Stripe account settles in AED" in response.content.decode()


def test_switching_back_to_a_fixed_price_clears_the_suggestion(alice, alice_store):
    client = store_client(alice_store, alice)
    client.post(BASE + "new/", form(price="3", pay_what_you_want="on", suggested_price="5"))
    product = only_product(alice_store)
    data = form(price="12.50", suggested_price="5")
    data.pop("file")
    assert client.post(f"{BASE}{product.uid}/", data).status_code == 302
    product = only_product(alice_store)
    assert (product.pay_what_you_want, product.price, product.suggested_price) == (
        False,
        1250,
        None,
    )
    assert product.price_label == "$12.50"


def test_mallory_cannot_make_alices_product_free(alice, alice_store, mallory):
    store_client(alice_store, alice).post(BASE + "new/", form())
    product = only_product(alice_store)
    data = form(price="0", pay_what_you_want="on")
    data.pop("file")
    assert store_client(alice_store, mallory).post(f"{BASE}{product.uid}/", data).status_code == 403
    product = only_product(alice_store)
    assert (product.pay_what_you_want, product.price) == (False, 1250)


def test_the_cap_is_a_thousand_or_ten_times_the_sellers_own_figures():
    def product(price, suggested=None, currency="usd"):
        return Product(
            price=price, suggested_price=suggested, currency=currency, pay_what_you_want=True
        )

    assert pwyw_cap(product(0)) == 100_000
    assert pwyw_cap(product(500, 20_000)) == 200_000
    assert pwyw_cap(product(50_000_000)) == 99_999_999  # never above the platform's ceiling
    assert pwyw_cap(product(100, currency="jpy")) == 150_000


def test_a_pwyw_page_is_served_from_the_cache_with_no_query_and_a_new_minimum_shows_at_once(
    alice_charging,
):
    from catalog.services import product_create, product_publish, product_update
    from tests.catalog.pdfs import good_pdf, upload
    from tests.catalog.test_page_cache import get

    with schema_context(alice_charging.schema_name):
        product = product_create(
            title="Ferns",
            description="",
            price_text="3",
            currency="usd",
            file=upload(good_pdf(pages=2)),
            pay_what_you_want=True,
            suggested_price_text="6",
        )
        product = product_publish(product=product, store=alice_charging)
    client = store_client(alice_charging)
    path = f"/p/{product.slug}/"
    _, first_queries = get(client, path)
    again, queries = get(client, path)
    assert first_queries >= 1 and queries == 0
    assert '<span class="price">$3.00+</span>' in again and 'value="6.00"' in again
    with schema_context(alice_charging.schema_name):
        product_update(
            product=product,
            title=product.title,
            description="",
            price_text="4",
            currency="usd",
            stamping=False,
            download_limit=None,
            pay_what_you_want=True,
            suggested_price_text="8",
        )
    page, _ = get(client, path)
    assert '<span class="price">$4.00+</span>' in page and 'value="8.00"' in page
