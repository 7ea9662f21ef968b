"""Sales tax and VAT with Stripe Tax (issue #12): off by default; a seller turns it on in
the store settings (which say what it does and that the registrations are theirs); the
Checkout Session then asks for automatic tax with the e-book tax code, an exclusive tax
behavior and the billing address; the fee is fixed on the price before tax; the tax,
its rate and the buyer's country are recorded from the completed session (amount_tax,
the expanded breakdown, customer_details.address) and shown on the receipt, the sales
list and the CSV.

Through the stand-in over real HTTP (its table: e-books DE 7 %, FR 5.5 %, GB 0 %,
US-CA 0, US-WA 6.5 %; other countries: no registration, no tax).
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from django.core import mail

from payments.models import CheckoutRecord, Purchase
from payments.platform.models import FeeLedgerEntry, PaymentIncident
from tenants.models import Store
from tenants.services import store_update_settings
from tests.conftest import main_client, store_client
from tests.factories import in_schema, product_with_file
from tests.payments.conftest import connect_store, post_event


def _tax_on(store) -> Store:
    return store_update_settings(store=store, tax_enabled=True)


def _checkout(store, product, attempt: str = "a" * 32) -> str:
    response = store_client(store).post(f"/buy/{product.slug}/", {"attempt": attempt})
    assert response.status_code == 302, response.content.decode()[:1500]
    return re.search(r"/hosted/checkout/(cs_[A-Za-z0-9_]+)", response["Location"]).group(1)


def _created(standin, store) -> dict:
    return [
        r["params"]
        for r in standin.requests("/v1/checkout/sessions")
        if r["method"] == "POST"
        and r["params"].get("metadata", {}).get("store") == store.schema_name
    ][-1]


def _item(params: dict) -> dict:
    items = params["line_items"]
    return items["0"] if isinstance(items, dict) else items[0]


def _pay(standin, store, session_id: str, capture, **address) -> Purchase:
    paid = standin.call(
        "POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com", **address}
    )
    assert paid["ok"], paid
    for event in standin.events(account=store.stripe_account.stripe_account_id):
        with capture(execute=True):
            assert post_event(main_client(), standin.event_payload(event)).status_code == 200
    with in_schema(store):
        return Purchase.objects.get(checkout_session_id=session_id)


def test_tax_is_off_by_default_and_the_session_asks_for_none(alice_store, standin):
    connect_store(alice_store, standin)
    assert Store.objects.get(pk=alice_store.pk).tax_enabled is False
    product = product_with_file(alice_store, price=1000)
    _checkout(alice_store, product)
    created = _created(standin, alice_store)
    assert "automatic_tax" not in created and "billing_address_collection" not in created
    item = _item(created)
    assert "tax_behavior" not in item["price_data"]
    assert "tax_code" not in item["price_data"]["product_data"]


def test_the_settings_page_says_what_tax_does_and_the_owner_turns_it_on(
    alice, alice_store, mallory
):
    owner = store_client(alice_store, alice)
    page = owner.get("/dashboard/settings/").content.decode()
    assert "Collect sales tax and VAT with Stripe Tax" in page
    assert "Off by default" in page and "your own Stripe Dashboard" in page
    assert "filing and paying the tax, stay yours" in page
    form = {
        "name": "Alice's Guides",
        "description": "",
        "support_email": "",
        "accent_color": "#4f46e5",
        "notify_on_sale": "on",
        "tax_enabled": "on",
    }
    assert owner.post("/dashboard/settings/", form).status_code == 302
    assert Store.objects.get(pk=alice_store.pk).tax_enabled is True
    # Mallory, signed in on Alice's store, cannot switch it back off.
    intruder = store_client(alice_store, mallory)
    assert intruder.post("/dashboard/settings/", {**form, "tax_enabled": ""}).status_code == 403
    assert Store.objects.get(pk=alice_store.pk).tax_enabled is True
    assert owner.post("/dashboard/settings/", {**form, "tax_enabled": ""}).status_code == 302
    assert Store.objects.get(pk=alice_store.pk).tax_enabled is False


@pytest.mark.parametrize(
    ("address", "tax", "rate", "country", "label"),
    [
        ({"country": "DE"}, 140, Decimal("7"), "DE", "VAT"),
        ({"country": "FR"}, 110, Decimal("5.5"), "FR", "VAT"),
        ({"country": "GB"}, 0, Decimal("0"), "GB", "VAT"),
        ({"country": "US", "state": "WA", "postal_code": "98101"}, 130, Decimal("6.5"), "US", "Sales Tax"),
        ({"country": "US", "state": "CA", "postal_code": "94103"}, 0, Decimal("0"), "US", "Sales Tax"),
        ({"country": "JP"}, 0, Decimal("0"), "JP", "VAT"),  # no registration there
    ],
)  # fmt: skip
def test_tax_is_recorded_and_the_fee_is_on_the_price_before_tax(
    alice_store, standin, django_capture_on_commit_callbacks, address, tax, rate, country, label
):
    connect_store(alice_store, standin)
    store = _tax_on(alice_store)
    product = product_with_file(store, price=2000)
    session_id = _checkout(store, product)

    created = _created(standin, store)
    assert created["automatic_tax"] == {"enabled": "true"}
    assert created["billing_address_collection"] == "auto"
    item = _item(created)
    assert item["price_data"]["tax_behavior"] == "exclusive"
    assert item["price_data"]["product_data"]["tax_code"] == "txcd_10302000"
    # 5 % of 20.00 + 0.30, fixed at creation on the pre-tax price.
    assert int(created["payment_intent_data"]["application_fee_amount"]) == 130
    with in_schema(store):
        assert CheckoutRecord.objects.get(session_id=session_id).tax_enabled is True

    purchase = _pay(standin, store, session_id, django_capture_on_commit_callbacks, **address)
    assert (purchase.amount, purchase.platform_fee) == (2000, 130)
    assert (purchase.tax_amount, purchase.tax_rate, purchase.tax_country, purchase.tax_label) == (
        tax,
        rate,
        country,
        label,
    )
    assert purchase.total_charged == 2000 + tax
    ledger = FeeLedgerEntry.objects.get(checkout_session_id=session_id)
    assert (ledger.amount, ledger.platform_fee) == (2000, 130)  # the fee's base: before tax
    intents = standin.call("GET", "/state")["collections"]["payment_intents"]
    charged = next(pi for pi in intents if pi["id"] == purchase.payment_intent_id)
    assert charged["amount"] == 2000 + tax


def test_the_receipt_the_sales_list_and_the_csv_show_the_tax(
    alice, alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    store = _tax_on(alice_store)
    product = product_with_file(store, price=1999, currency="eur")
    session_id = _checkout(store, product)
    purchase = _pay(standin, store, session_id, django_capture_on_commit_callbacks, country="DE")
    assert (purchase.amount, purchase.tax_amount) == (1999, 140)  # 7 % of 19.99 = 1.3993

    receipt = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    assert "Subtotal: €19.99" in receipt.body
    assert "VAT (DE, 7%): €1.40" in receipt.body
    assert "Amount paid: €21.39" in receipt.body
    html = receipt.alternatives[0][0]
    assert "VAT (DE, 7%)" in html and "€21.39" in html
    notice = next(m for m in mail.outbox if m.to == ["alice@example.com"])
    assert "VAT (DE, 7%): €1.40 on top (the buyer paid €21.39)" in notice.body

    owner = store_client(store, alice)
    sales = owner.get("/dashboard/sales/").content.decode()
    assert "+ VAT (DE, 7%) €1.40" in sales
    body = b"".join(owner.get("/dashboard/sales.csv").streaming_content).decode()
    row = next(csv.DictReader(io.StringIO(body)))
    assert (row["amount"], row["platform_fee"], row["tax"], row["tax_rate"]) == (
        "19.99",
        "1.30",
        "1.40",
        "7",
    )
    assert row["tax_country"] == "DE" and row["net"] == "18.69"

    thanks = store_client(store).get(f"/thanks/?session_id={session_id}").content.decode()
    assert "VAT (DE, 7%) €1.40 = €21.39" in thanks


def test_the_webhook_payload_has_no_breakdown_and_fulfilment_expands_it(
    alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    store = _tax_on(alice_store)
    product = product_with_file(store, price=1000)
    session_id = _checkout(store, product)
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "b@example.com", "country": "FR"})
    completed = next(
        e
        for e in standin.events(account=store.stripe_account.stripe_account_id)
        if e["type"] == "checkout.session.completed"
    )
    obj = completed["data"]["object"]
    assert obj["total_details"]["amount_tax"] == 55 and "breakdown" not in obj["total_details"]
    assert obj["amount_total"] == 1055 and obj["amount_subtotal"] == 1000
    assert obj["automatic_tax"]["status"] == "complete"
    assert obj["customer_details"]["address"]["country"] == "FR"
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(main_client(), standin.event_payload(completed)).status_code == 200
    retrieved = [
        r for r in standin.requests(f"/v1/checkout/sessions/{session_id}") if r["method"] == "GET"
    ]
    assert any("total_details.breakdown" in str(r["params"].get("expand")) for r in retrieved)
    with in_schema(store):
        purchase = Purchase.objects.get(checkout_session_id=session_id)
    assert (purchase.tax_amount, purchase.tax_rate, purchase.tax_country) == (
        55,
        Decimal("5.5"),
        "FR",
    )


def test_a_session_with_tax_the_platform_did_not_ask_for_is_not_fulfilled(
    alice_store, standin, django_capture_on_commit_callbacks
):
    """Only the pre-tax amount is compared with the record, and only when the record asked
    for tax may Stripe add any: a session that grew by 'tax' otherwise is an incident."""
    connect_store(alice_store, standin)
    store = _tax_on(alice_store)
    product = product_with_file(store, price=1000)
    session_id = _checkout(store, product)
    with in_schema(store):
        CheckoutRecord.objects.filter(session_id=session_id).update(tax_enabled=False)
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "b@example.com", "country": "DE"})
    for event in standin.events(account=store.stripe_account.stripe_account_id):
        with django_capture_on_commit_callbacks(execute=True):
            post_event(main_client(), standin.event_payload(event))
    with in_schema(store):
        assert not Purchase.objects.filter(checkout_session_id=session_id).exists()
    incident = PaymentIncident.objects.get(checkout_session_id=session_id)
    assert "tax 70 (none asked for)" in incident.detail


def test_the_stand_ins_checkout_page_asks_for_the_country_when_tax_is_on(alice_store, standin):
    import json
    import urllib.error
    import urllib.request

    connect_store(alice_store, standin)
    store = _tax_on(alice_store)
    product = product_with_file(store, price=1000)
    session_id = _checkout(store, product)
    with urllib.request.urlopen(f"{standin.base}/hosted/checkout/{session_id}") as page:
        html = page.read().decode()
    assert "<select id=country name=country autocomplete=country required>" in html
    assert '<option value="DE">DE</option>' in html and "Calculated from your address" in html
    with pytest.raises(urllib.error.HTTPError) as refused:
        standin.call("POST", f"/sessions/{session_id}/pay", {"email": "b@example.com"})
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"]["message"] == "Choose your country or region."
