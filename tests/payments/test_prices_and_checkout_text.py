"""Prices follow Stripe's minimum for the currency the seller's account settles in, and
Checkout shows the product's description as plain text."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from catalog.money import STRIPE_MINIMUM_CHARGE, minimum_charge
from tests.conftest import store_client
from tests.factories import in_schema, product_with_file
from tests.payments.conftest import connect_store


def _create(store, *, price_text: str, currency: str):
    from catalog.services import product_create

    with in_schema(store):
        return product_create(
            title="Field Guide",
            description="",
            price_text=price_text,
            currency=currency,
            file=None,
        )


def test_a_gbp_price_below_what_a_usd_account_can_charge_is_refused_naming_the_minimum(
    alice_store, standin
):
    connect_store(alice_store, standin, country="US")
    # £0.30 is Stripe's GBP minimum, but a USD-settling account needs $0.50 after conversion.
    with pytest.raises(ValidationError) as caught:
        _create(alice_store, price_text="0.30", currency="gbp")
    message = " ".join(caught.value.message_dict["price"])
    lowest = minimum_charge("gbp", settles_in="usd")
    assert f"£0.{lowest:02d}" in message and "settles in USD" in message and "$0.50" in message
    assert _create(alice_store, price_text=f"0.{lowest:02d}", currency="gbp").price == lowest


def test_a_usd_price_follows_a_japanese_accounts_yen_minimum_too(alice_store, standin):
    connect_store(alice_store, standin, country="JP")
    assert _create(alice_store, price_text="0.50", currency="usd").price == 50
    with pytest.raises(ValidationError) as caught:
        _create(alice_store, price_text="40", currency="jpy")
    assert "¥50" in " ".join(caught.value.message_dict["price"])


def test_a_price_in_the_settlement_currency_uses_stripes_table(alice_store, standin):
    connect_store(alice_store, standin, country="GB")
    assert STRIPE_MINIMUM_CHARGE["gbp"] == 30
    assert _create(alice_store, price_text="0.30", currency="gbp").price == 30
    with pytest.raises(ValidationError) as caught:
        _create(alice_store, price_text="0.29", currency="gbp")
    assert "£0.30" in " ".join(caught.value.message_dict["price"])


def test_a_usd_price_a_hungarian_account_can_not_charge_is_refused(alice_store, standin):
    # A store settling in HUF (Stripe's minimum 175.00 HUF ≈ $0.49, plus our margin for
    # the exchange rate) can't sell at $0.50.
    connect_store(alice_store, standin, country="HU")
    lowest = minimum_charge("usd", settles_in="huf")
    assert lowest > 50
    with pytest.raises(ValidationError) as caught:
        _create(alice_store, price_text="0.50", currency="usd")
    assert "HUF 175.00" in " ".join(caught.value.message_dict["price"])


def test_publishing_checks_the_minimum_for_the_settlement_currency(alice, alice_store, standin):
    connect_store(alice_store, standin, country="US")
    product = product_with_file(alice_store, price=30, currency="gbp", status="draft")
    from catalog.services import product_publish

    with in_schema(alice_store), pytest.raises(ValidationError) as caught:
        product_publish(product=product, store=alice_store)
    assert "settles in USD" in " ".join(caught.value.messages)


def test_the_checkout_line_item_shows_the_description_as_plain_text(alice_store, standin):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store, price=1999)
    with in_schema(alice_store):
        product.description = "**32 songbirds** of the _Alps_, with [maps](https://example.com)."
        product.save(update_fields=["description"])
    response = store_client(alice_store).post(
        f"/buy/{product.slug}/", {"attempt": "0123456789abcdef0123456789abcdef"}
    )
    assert response.status_code == 302
    created = [r for r in standin.requests("/v1/checkout/sessions") if r["method"] == "POST"][-1]
    description = created["params"]["line_items"][0]["price_data"]["product_data"]["description"]
    assert description == "32 songbirds of the Alps, with maps."


@pytest.mark.parametrize(("country", "currency"), [("FR", "eur"), ("JP", "jpy"), ("SE", "usd")])
def test_a_new_product_is_priced_in_the_currency_the_account_settles_in(
    alice, alice_store, standin, country, currency
):
    connect_store(alice_store, standin, country=country)
    html = store_client(alice_store, alice).get("/dashboard/products/new/").content.decode()
    # SEK is not a currency products are priced in (catalog.money.CURRENCIES): USD then.
    assert f'<option value="{currency}" selected>' in html


def test_stripe_refuses_a_charge_below_the_settlement_minimum_and_the_buyer_is_told(
    alice_store, standin
):
    # A £0.30 price saved before this check existed, on a store whose account settles in USD.
    connect_store(alice_store, standin, country="US")
    product = product_with_file(alice_store, price=30, currency="gbp")
    response = store_client(alice_store).post(
        f"/buy/{product.slug}/", {"attempt": "0123456789abcdef0123456789abcdef"}
    )
    assert response.status_code == 502
    assert b"Amount must convert to at least $0.50" in response.content
    refused = [r for r in standin.requests("/v1/checkout/sessions") if r["method"] == "POST"][-1]
    assert refused["error"]["code"] == "amount_too_small"
    # £0.60 converts to about $0.77: Stripe takes it.
    other = product_with_file(alice_store, price=60, currency="gbp")
    ok = store_client(alice_store).post(
        f"/buy/{other.slug}/", {"attempt": "1123456789abcdef0123456789abcdef"}
    )
    assert ok.status_code == 302
