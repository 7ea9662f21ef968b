"""/console/fees/ and /console/fees.csv: the fee ledger across stores."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from catalog.money import CURRENCIES
from payments.platform.models import FeeLedgerEntry
from tests.conftest import main_client

from .conftest import ledger_row

HEADER = (
    "created_at,store,store_name,checkout_session_id,payment_intent_id,purchase_uid,product,"
    "amount,platform_fee,currency,fee_percent,fee_fixed,status,discount_code,discount"
)


def read_csv(response) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-CURRENCIES[currency].exponent)


@pytest.fixture
def ledger(alice_store, mallory_store):
    """Awkward amounts in three currencies and three statuses, over two months."""
    march = datetime(2025, 3, 15, 12, tzinfo=UTC)
    rows = []
    for i in range(40):
        store = alice_store if i % 3 else mallory_store
        currency = ("usd", "eur", "jpy")[i % 3]
        status = ("paid", "paid", "paid", "refunded", "disputed")[i % 5]
        when = march + timedelta(days=(i % 2) * 20)  # March 15 or April 4
        rows.append(
            ledger_row(
                store,
                amount=999 + i * 37,
                fee=61 + i * 3,
                currency=currency,
                status=status,
                created_at=when,
            )
        )
    return FeeLedgerEntry.objects.bulk_create(rows)


def paid_sums(rows) -> dict[str, tuple[int, int, int]]:
    """The independent reckoning: (sales, GMV, fees) per currency, over paid rows."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        if row.status == "paid":
            s = sums[row.currency]
            s[0] += 1
            s[1] += row.amount
            s[2] += row.platform_fee
    return {k: tuple(v) for k, v in sums.items()}


def test_console_totals_the_csv_and_the_ledger_agree_to_the_cent(olivia, ledger):
    client = main_client(olivia)
    expected = paid_sums(ledger)
    page = client.get("/console/fees/")
    shown = {t.currency: (t.sales, t.gmv, t.fees) for t in page.context["totals"]}
    assert shown == expected

    rows = read_csv(client.get("/console/fees.csv"))
    assert len(rows) == len(ledger)
    from_csv: dict[str, list] = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    for row in rows:
        if row["status"] == "paid":
            s = from_csv[row["currency"].lower()]
            s[0] += 1
            s[1] += Decimal(row["amount"])
            s[2] += Decimal(row["platform_fee"])
    assert {k: tuple(v) for k, v in from_csv.items()} == {
        k: (n, major(gmv, k), major(fees, k)) for k, (n, gmv, fees) in expected.items()
    }
    html = page.content.decode()
    for currency, (_, gmv, fees) in expected.items():
        from catalog.money import format_amount

        assert format_amount(fees, currency) in html
        assert format_amount(gmv, currency) in html


def test_filters_apply_to_the_rows_the_totals_and_the_csv_alike(olivia, ledger, alice_store):
    client = main_client(olivia)
    params = {"store": "alice", "month": "2025-03", "currency": "eur", "status": "paid"}
    expected = [
        r
        for r in ledger
        if r.store_id == alice_store.pk
        and r.created_at.month == 3
        and r.currency == "eur"
        and r.status == "paid"
    ]
    assert expected
    page = client.get("/console/fees/", params)
    assert page.context["page"].paginator.count == len(expected)
    assert {t.currency: (t.sales, t.gmv, t.fees) for t in page.context["totals"]} == paid_sums(
        expected
    )
    rows = read_csv(client.get("/console/fees.csv", params))
    assert sorted(r["checkout_session_id"] for r in rows) == sorted(
        r.checkout_session_id for r in expected
    )
    assert f"/console/fees.csv?{page.context['query']}" in page.content.decode().replace(
        "&amp;", "&"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"month": "2025-13"}, "is not a month"),
        ({"month": "March"}, "is not a month"),
        ({"month": "0000-01"}, "is not a month"),
        ({"currency": "xyz"}, "Unknown currency"),
        ({"status": "stolen"}, "Unknown status"),
    ],
)
def test_junk_filters_say_so_and_filter_nothing(olivia, ledger, params, message):
    client = main_client(olivia)
    page = client.get("/console/fees/", params)
    assert page.status_code == 200
    assert message in page.content.decode()
    assert page.context["page"].paginator.count == len(ledger)
    csv_response = client.get("/console/fees.csv", params)
    assert csv_response.status_code == 200
    assert len(read_csv(csv_response)) == len(ledger)


def test_an_empty_range_gives_a_csv_with_just_the_header(olivia, ledger):
    response = main_client(olivia).get("/console/fees.csv", {"month": "1999-01"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert b"".join(response.streaming_content).decode().strip() == HEADER


def test_seller_typed_text_cannot_become_a_spreadsheet_formula(olivia, alice_store):
    FeeLedgerEntry.objects.bulk_create([ledger_row(alice_store, title='=HYPERLINK("http://x")')])
    (row,) = read_csv(main_client(olivia).get("/console/fees.csv"))
    assert row["product"].startswith("'=")


def test_the_monthly_chart_shows_paid_fees_per_currency(olivia, ledger):
    page = main_client(olivia).get("/console/fees/", {"month": "2025-04"})
    series = {s.currency: s for s in page.context["series"]}
    assert set(series) == {"usd", "eur", "jpy"}
    march = {c: dict(s.points)[datetime(2025, 3, 1).date()] for c, s in series.items()}
    expected = defaultdict(int)
    for r in ledger:
        if r.status == "paid" and r.created_at.month == 3:
            expected[r.currency] += r.platform_fee
    assert march == dict(expected)
    assert page.content.decode().count('<svg class="bar-chart"') == 3


def test_the_page_costs_the_same_queries_for_10_rows_as_for_10000(
    olivia, alice_store, mallory_store
):
    client = main_client(olivia)
    FeeLedgerEntry.objects.bulk_create([ledger_row(alice_store) for _ in range(10)])
    client.get("/console/fees/")
    with CaptureQueriesContext(connection) as few:
        client.get("/console/fees/")
    FeeLedgerEntry.objects.bulk_create(
        [
            ledger_row(mallory_store if i % 2 else alice_store, currency=("usd", "eur")[i % 2])
            for i in range(9990)
        ],
        batch_size=2000,
    )
    with CaptureQueriesContext(connection) as many:
        response = client.get("/console/fees/")
    assert len(response.context["page"].object_list) == 50
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]
    print(f"fees page queries: 10 rows {len(few)}, 10,000 rows {len(many)}")
    assert len(few) <= 8


@pytest.mark.slow
def test_the_csv_streams_100000_rows_in_flat_memory(olivia, alice_store):
    FeeLedgerEntry.objects.bulk_create(
        (ledger_row(alice_store, amount=1000 + i % 500) for i in range(100_000)), batch_size=5000
    )
    response = main_client(olivia).get("/console/fees.csv")
    assert isinstance(response, StreamingHttpResponse)
    tracemalloc.start()
    lines = 0
    total = Decimal(0)
    try:
        for chunk in response.streaming_content:
            lines += 1
            if lines > 1:
                total += Decimal(chunk.decode().split(",")[7])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == 100_001
    assert total == major(sum(1000 + i % 500 for i in range(100_000)), "usd")
    # 100,000 rows held at once would take tens of MB; chunks of 2,000 stay far below.
    print(f"CSV peak traced memory for 100,000 rows: {peak / 1024 / 1024:.1f} MB")
    assert peak < 8 * 1024 * 1024, peak
