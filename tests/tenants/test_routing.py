from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants.services import store_suspend
from tests.conftest import main_client, store_client


def test_the_main_domain_serves_the_landing_page(db):
    response = main_client().get("/")
    assert response.status_code == 200
    assert b"Start selling" in response.content


def test_a_store_subdomain_serves_that_store(alice_store, mallory_store):
    response = store_client(alice_store).get("/")
    assert response.status_code == 200
    assert b"Alice&#x27;s Guides" in response.content
    assert b"Mallory" not in response.content


def test_an_unknown_subdomain_gets_a_clear_404(db):
    response = main_client().get("/", HTTP_HOST="nobody.localhost")
    assert response.status_code == 404
    assert b"There is no store here" in response.content


def test_a_host_outside_the_platform_is_refused(db):
    response = main_client().get("/", HTTP_HOST="evil.example.org")
    assert response.status_code in (400, 404)


def test_a_suspended_store_shows_unavailable_and_no_shop(alice_store):
    store_suspend(store=alice_store, reason="Chargebacks under review")
    response = store_client(alice_store).get("/")
    assert response.status_code == 503
    assert b"temporarily unavailable" in response.content


def test_the_store_lookup_costs_no_query_on_a_warm_request(alice_store):
    client = store_client(alice_store)
    client.get("/")  # warms the host cache
    with CaptureQueriesContext(connection) as cold_free:
        client.get("/")
    sqls = [q["sql"] for q in cold_free.captured_queries]
    assert not any("tenants_domain" in sql or "tenants_store" in sql for sql in sqls), sqls
    # And the storefront itself comes from the page cache (catalog.page_cache): no query.
    assert [s for s in sqls if not s.upper().startswith("SET")] == [], sqls


def test_suspending_a_store_takes_effect_on_the_next_request(alice_store):
    client = store_client(alice_store)
    assert client.get("/").status_code == 200
    store_suspend(store=alice_store, reason="Review")
    assert client.get("/").status_code == 503
