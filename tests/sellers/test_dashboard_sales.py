from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payments.models import DownloadGrant, Purchase
from tests.conftest import store_client
from tests.factories import in_schema, product_with_file, purchase


def _bulk_sales(store, product, n: int, *, status: str = "paid") -> None:
    """Many sales fast: rows as the services would write them."""
    with in_schema(store):
        now = timezone.now()
        purchases = Purchase.objects.bulk_create(
            Purchase(
                product=product,
                buyer_email=f"buyer{i}@example.com",
                amount=product.price + (i % 7),
                currency=product.currency,
                platform_fee=90 + (i % 3),
                fee_percent="5.00",
                fee_fixed=30,
                checkout_session_id=f"cs_bulk_{uuid.uuid4().hex}",
                payment_intent_id=f"pi_bulk_{uuid.uuid4().hex}",
                status=status if i % 5 else "refunded",
                created_at=now,
            )
            for i in range(n)
        )
        DownloadGrant.objects.bulk_create(
            DownloadGrant(
                purchase=p,
                salt=uuid.uuid4().hex,
                token_hash=uuid.uuid4().hex + uuid.uuid4().hex[:32],
            )
            for p in purchases
        )


def _queries(client, url: str) -> int:
    client.get(url)  # warm caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(
        [q for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    )


@pytest.mark.parametrize("url", ["/dashboard/", "/dashboard/sales/"])
def test_dashboard_pages_cost_the_same_queries_with_10_or_10000_sales(alice, alice_store, url):
    product = product_with_file(alice_store)
    client = store_client(alice_store, alice)
    _bulk_sales(alice_store, product, 10)
    few = _queries(client, url)
    _bulk_sales(alice_store, product, 9_990)
    many = _queries(client, url)
    assert few == many


def test_the_dashboard_the_csv_and_the_rows_agree_to_the_cent(alice, alice_store):
    usd = product_with_file(alice_store, price=1999)
    eur = product_with_file(alice_store, title="Guide EU", price=1500, currency="eur")
    _bulk_sales(alice_store, usd, 40)
    _bulk_sales(alice_store, eur, 15)
    client = store_client(alice_store, alice)

    with in_schema(alice_store):
        expected = defaultdict(lambda: [0, 0, 0])
        for p in Purchase.objects.all():
            if p.status == "paid":
                expected[p.currency][0] += p.amount
                expected[p.currency][1] += p.platform_fee
                expected[p.currency][2] += 1

    body = b"".join(client.get("/dashboard/sales.csv").streaming_content).decode()
    from_csv = defaultdict(lambda: [0, 0, 0])
    for row in csv.DictReader(io.StringIO(body)):
        if row["status"] == "paid":
            cur = row["currency"].lower()
            from_csv[cur][0] += round(float(row["amount"]) * 100)
            from_csv[cur][1] += round(float(row["platform_fee"]) * 100)
            from_csv[cur][2] += 1
    assert dict(from_csv) == dict(expected)

    from payments.queries import sales_overview

    with in_schema(alice_store):
        all_time = sales_overview()[-1]
    shown = {f.currency: [f.gross, f.fees, f.sales] for f in all_time.by_currency}
    assert shown == dict(expected)
    page = client.get("/dashboard/").content.decode()
    from catalog.money import format_amount

    assert format_amount(expected["usd"][0], "usd") in page
    assert format_amount(expected["eur"][0], "eur") in page


def test_sales_filters_with_junk_say_so_and_still_answer(alice, alice_store):
    client = store_client(alice_store, alice)
    response = client.get("/dashboard/sales/?from=yesterday&to=2026-13-45&status=lost&page=99999")
    assert response.status_code == 200
    text = response.content.decode()
    assert "is not a date" in text and "Unknown status" in text


def test_a_csv_of_an_empty_range_has_only_the_header(alice, alice_store):
    body = b"".join(
        store_client(alice_store, alice)
        .get("/dashboard/sales.csv?from=2001-01-01&to=2001-01-02")
        .streaming_content
    )
    assert body.decode().strip().splitlines() == [
        "date,order,buyer_email,product,amount,platform_fee,net,currency,status,downloads,"
        "discount_code,discount,refunded,fee_refunded,tax,tax_rate,tax_country"
    ]


def test_mallory_cannot_see_or_act_on_alices_sales(alice_store, mallory, mallory_store):
    product = product_with_file(alice_store)
    sale = purchase(alice_store, product)
    client = store_client(alice_store, mallory)
    assert client.get("/dashboard/sales/").status_code == 403
    assert client.get("/dashboard/sales.csv").status_code == 403
    assert client.post(f"/dashboard/sales/{sale.uid}/refund/").status_code == 403
    # On her own domain Alice's sale does not exist.
    own = store_client(mallory_store, mallory)
    assert own.post(f"/dashboard/sales/{sale.uid}/reset-downloads/").status_code == 404
    assert b"bob@example.com" not in own.get("/dashboard/sales/").content


def test_the_owner_resets_a_buyers_download_count(alice, alice_store):
    product = product_with_file(alice_store, download_limit=1)
    sale = purchase(alice_store, product)
    with in_schema(alice_store):
        DownloadGrant.objects.filter(purchase=sale).update(download_count=1)
    response = store_client(alice_store, alice).post(
        f"/dashboard/sales/{sale.uid}/reset-downloads/"
    )
    assert response.status_code == 302
    with in_schema(alice_store):
        assert DownloadGrant.objects.get(purchase=sale).download_count == 0
