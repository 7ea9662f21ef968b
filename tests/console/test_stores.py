"""/console/: every store with its owner, Stripe state and ledger figures."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments.platform.models import ConnectedAccount, FeeLedgerEntry
from tests.conftest import main_client

from .conftest import bulk_stores, ledger_row


@pytest.fixture
def sales(alice_store, mallory_store):
    FeeLedgerEntry.objects.bulk_create(
        [
            ledger_row(alice_store, amount=1999, fee=130),
            ledger_row(alice_store, amount=1001, fee=80),
            ledger_row(alice_store, amount=500, fee=55, status="refunded"),
            ledger_row(alice_store, amount=1500, fee=100, currency="jpy"),
            ledger_row(mallory_store, amount=700, fee=65),
        ]
    )


def test_it_lists_stores_with_owner_stripe_state_and_paid_figures_per_currency(
    olivia, alice_store, mallory_store, sales
):
    ConnectedAccount.objects.create(
        store=alice_store, stripe_account_id="acct_alice", charges_enabled=True
    )
    response = main_client(olivia).get("/console/")
    html = response.content.decode()
    assert "Alice&#x27;s Guides" in html and "Mallory Mart" in html
    assert "alice@example.com" in html
    assert "http://alice.localhost:8000/" in html
    alice = next(s for s in response.context["page"].object_list if s.pk == alice_store.pk)
    assert alice.stripe_state == "ready"
    assert alice.sales_total == 3  # paid only: the refunded sale is counted apart
    assert alice.refunded_total == 1
    usd = next(t for t in alice.totals if t.currency == "usd")
    assert (usd.sales, usd.gmv, usd.fees, usd.refunded) == (2, 3000, 210, 1)
    assert "$30.00" in html and "$2.10" in html and "¥1,500" in html
    mallory = next(s for s in response.context["page"].object_list if s.pk == mallory_store.pk)
    assert mallory.stripe_state == "not_connected"


def test_it_searches_names_subdomains_and_owner_emails(olivia, alice_store, mallory_store):
    client = main_client(olivia)
    for query in ("guides", "ALICE", "alice@example"):
        names = [s.name for s in client.get("/console/", {"q": query}).context["page"].object_list]
        assert names == [alice_store.name], query
    response = client.get("/console/", {"q": "nobody-matches-this"})
    assert "No store matches" in response.content.decode()


def test_it_sorts_by_name_sales_and_gmv_and_ignores_unknown_sort_keys(
    olivia, alice_store, mallory_store, sales
):
    client = main_client(olivia)

    def order(**params):
        return [s.subdomain for s in client.get("/console/", params).context["page"].object_list]

    assert order(sort="name") == ["alice", "mallory"]
    assert order(sort="-name") == ["mallory", "alice"]
    assert order(sort="sales") == ["alice", "mallory"]
    assert order(sort="-sales") == ["mallory", "alice"]
    assert order(sort="gmv") == ["alice", "mallory"]
    # Ranked by GMV in one currency: Mallory sold nothing in yen.
    assert order(sort="-gmv", cur="jpy") == ["mallory", "alice"]
    assert order(sort="created") == ["mallory", "alice"]
    assert order(sort="password; drop table") == ["mallory", "alice"]


def test_the_list_costs_the_same_queries_for_5_stores_as_for_1000(olivia):
    client = main_client(olivia)
    bulk_stores(5, prefix="few")
    client.get("/console/")  # warm the session
    with CaptureQueriesContext(connection) as few:
        assert client.get("/console/").status_code == 200
    bulk_stores(995, prefix="many")
    for params in ({}, {"sort": "gmv"}, {"sort": "-sales", "q": "bulk"}):
        with CaptureQueriesContext(connection) as many:
            response = client.get("/console/", params)
        assert len(response.context["page"].object_list) == 50
        assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]
    print(f"stores list queries: 5 stores {len(few)}, 1,000 stores {len(many)}")
    assert len(few) <= 8


def test_a_huge_page_number_shows_the_last_page(olivia):
    bulk_stores(60)
    client = main_client(olivia)
    for page in ("99999999999999999999", "9" * 5000, "-3", "abc"):
        response = client.get("/console/", {"page": page})
        assert response.status_code == 200
    assert client.get("/console/", {"page": "10**9"}).context["page"].number == 1
    assert client.get("/console/", {"page": "99999999"}).context["page"].number == 2
