"""Prices as sellers type them: "12,50" is €12.50 (most of Europe), "1,000.00" and
"1.000,00" are a thousand, "1,250" is asked about, and the form shows back what it read
before it saves."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from catalog.models import Product
from catalog.money import MoneyAmbiguous, MoneyError, parse_amount, read_price
from catalog.services import product_create
from tests.catalog import pdfs
from tests.catalog.factories import ProductFactory
from tests.conftest import store_client

NEW = "/dashboard/products/new/"


@pytest.mark.parametrize(
    ("typed", "code", "minor"),
    [
        ("12.50", "usd", 1250),
        ("12,50", "usd", 1250),
        ("12,50", "eur", 1250),
        ("12,5", "eur", 1250),
        ("0,99", "gbp", 99),
        ("1,000.00", "usd", 100000),
        ("1.000,00", "eur", 100000),
        ("1 250,00", "eur", 125000),
        ("1\u202f250,00", "eur", 125000),  # narrow no-break space, as French locales type it
        ("1'250.00", "usd", 125000),
        ("1,000,000", "jpy", 1000000),
        ("1.000.000", "jpy", 1000000),
        ("1,00,000", "usd", 10000000),  # Indian grouping
        ("€12,50", "eur", 1250),
        ("12,50 €", "eur", 1250),
        ("EUR 12,50", "eur", 1250),
        ("CA$12.50", "cad", 1250),
        ("1,250", "jpy", 1250),  # no decimals in JPY: only a thousands separator
        ("1.250", "jpy", 1250),
        ("1250", "jpy", 1250),
        ("12", "usd", 1200),
    ],
)
def test_prices_are_read_as_people_write_them(typed, code, minor):
    assert parse_amount(typed, code) == minor


@pytest.mark.parametrize(
    ("typed", "code", "says"),
    [
        (
            "1,250",
            "usd",
            "“1,250” could be $1,250.00 or $1.25, so we do not guess: type 1250 for "
            "$1,250.00, or 1.25 for $1.25.",
        ),
        (
            "1.250",
            "eur",
            "“1.250” could be €1,250.00 or €1.25, so we do not guess: type 1250 for "
            "€1,250.00, or 1.25 for €1.25.",
        ),
        ("12,505", "eur", "“12,505” could be €12,505.00, or a price with decimals"),
        ("1,000", "usd", "“1,000” could be $1,000.00 or $1.00"),
    ],
)
def test_one_separator_and_three_digits_is_asked_about_in_a_currency_with_cents(typed, code, says):
    with pytest.raises(MoneyAmbiguous) as caught:
        read_price(typed, code)
    assert str(caught.value).startswith(says)


@pytest.mark.parametrize(
    ("typed", "code", "says"),
    [
        ("1.000.00", "usd", "“1.000.00” is not a number we can read"),
        ("1,2,3", "usd", "“1,2,3” is not a number we can read"),
        ("12,5055", "eur", "EUR prices take at most 2 decimals."),
        ("12,5", "jpy", "JPY prices take no decimals."),
        ("1000.00", "jpy", "JPY prices take no decimals."),
    ],
)
def test_what_cannot_be_a_price_says_why(typed, code, says):
    with pytest.raises(MoneyError, match=says):
        read_price(typed, code)


@pytest.mark.parametrize(
    ("typed", "code", "shown_back"),
    [
        ("12.50", "usd", False),
        ("12.5", "usd", False),
        ("12", "usd", False),
        ("1000", "jpy", False),
        ("12,50", "eur", True),
        ("1,000.00", "usd", True),
        ("€12.50", "eur", True),
        ("1,000", "jpy", True),
    ],
)
def test_only_plain_prices_are_saved_without_showing_them_back(typed, code, shown_back):
    assert read_price(typed, code).needs_confirmation is shown_back


def form(**overrides) -> dict:
    data = {
        "title": "A Field Guide to Ferns",
        "description": "",
        "price": "12,50",
        "currency": "eur",
        "file": pdfs.upload(pdfs.good_pdf(pages=1)),
    }
    data.update(overrides)
    return data


def count(store) -> int:
    with schema_context(store.schema_name):
        return Product.objects.count()


def test_a_decimal_comma_is_shown_back_then_saved_as_12_50(alice, alice_store):
    client = store_client(alice_store, alice)
    first = client.post(NEW, form())
    assert first.status_code == 400
    [message] = first.context["form"].errors["price"]
    assert message.startswith("You entered “12,50”, which we read as €12.50. If that is right")
    assert "Choose the PDF again too" in message
    html = first.content.decode()
    assert 'name="price_confirmed" value="12.50 eur"' in html
    assert 'name="price" value="12,50"' in html
    assert count(alice_store) == 0

    second = client.post(NEW, form(price_confirmed="12.50 eur"))
    assert second.status_code == 302
    with schema_context(alice_store.schema_name):
        product = Product.objects.get()
    assert (product.price, product.currency) == (1250, "eur")


def test_a_confirmation_for_another_reading_does_not_count(alice, alice_store):
    client = store_client(alice_store, alice)
    # Confirmed €12.50, then changed to 13,50 (or to another currency): asked again.
    for changed in ({"price": "13,50"}, {"currency": "gbp"}):
        response = client.post(NEW, form(price_confirmed="12.50 eur", **changed))
        assert response.status_code == 400
        assert "which we read as" in response.context["form"].errors["price"][0]
    assert count(alice_store) == 0


def test_an_ambiguous_price_is_asked_about_and_nothing_is_saved(alice, alice_store, media_root):
    response = store_client(alice_store, alice).post(
        NEW, form(price="1,250", currency="usd", price_confirmed="1250.00 usd")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["price"] == [
        "“1,250” could be $1,250.00 or $1.25, so we do not guess: type 1250 for $1,250.00, "
        "or 1.25 for $1.25."
    ]
    assert count(alice_store) == 0


def test_thousands_separators_keep_working_once_shown_back(alice, alice_store):
    client = store_client(alice_store, alice)
    for typed, code, token in (
        ("1,000.00", "usd", "1000.00 usd"),
        ("1.000,00", "eur", "1000.00 eur"),
        ("1,000", "jpy", "1000 jpy"),
    ):
        asked = client.post(NEW, form(price=typed, currency=code))
        assert f'value="{token}"' in asked.content.decode()
        saved = client.post(NEW, form(price=typed, currency=code, price_confirmed=token))
        assert saved.status_code == 302, saved.context["form"].errors
    with schema_context(alice_store.schema_name):
        prices = sorted(Product.objects.values_list("price", "currency"))
    assert prices == [(1000, "jpy"), (100000, "eur"), (100000, "usd")]


def test_a_plain_price_is_saved_at_once(alice, alice_store):
    response = store_client(alice_store, alice).post(NEW, form(price="12.50", currency="usd"))
    assert response.status_code == 302
    assert count(alice_store) == 1


def test_editing_the_price_shows_it_back_too(alice, alice_store):
    with schema_context(alice_store.schema_name):
        product = ProductFactory(title="Ferns", price=900, currency="eur")
    client = store_client(alice_store, alice)
    url = f"/dashboard/products/{product.uid}/"
    edit = {"title": "Ferns", "description": "", "price": "19,90", "currency": "eur"}
    asked = client.post(url, edit)
    assert asked.status_code == 400
    assert asked.context["form"].errors["price"] == [
        "You entered “19,90”, which we read as €19.90. If that is right, save again; if not, "
        "correct the price."
    ]
    assert client.post(url, {**edit, "price_confirmed": "19.90 eur"}).status_code == 302
    product.refresh_from_db()
    assert product.price == 1990


def test_the_service_reads_a_decimal_comma_too(in_alice):
    product = product_create(
        title="Ferns",
        description="",
        price_text="12,50",
        currency="eur",
        file=pdfs.upload(pdfs.good_pdf(pages=1)),
    )
    assert product.price == 1250


def test_the_form_can_ask_how_a_price_reads_while_the_seller_types(alice, alice_store):
    client = store_client(alice_store, alice)
    assert client.get(
        "/dashboard/products/price/", {"price": "12,50", "currency": "eur"}
    ).json() == {
        "display": "€12.50",
        "token": "12.50 eur",
        "shown_back": True,
    }
    assert client.get(
        "/dashboard/products/price/", {"price": "1,250", "currency": "usd"}
    ).json() == {
        "error": "“1,250” could be $1,250.00 or $1.25, so we do not guess: type 1250 for "
        "$1,250.00, or 1.25 for $1.25."
    }


def test_only_the_owner_may_ask(mallory, alice_store):
    response = store_client(alice_store, mallory).get(
        "/dashboard/products/price/", {"price": "12,50", "currency": "eur"}
    )
    assert response.status_code == 403
