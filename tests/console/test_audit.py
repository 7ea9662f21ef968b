"""/console/audit/: every console action, newest first."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.models import AuditEntry
from console.services import (
    console_impersonation_start,
    console_store_restore,
    console_store_suspend,
)
from tests.conftest import main_client


def test_it_lists_who_did_what_with_before_and_after(olivia, alice_store):
    console_store_suspend(actor=olivia, store=alice_store, reason="Fraud review")
    console_store_restore(actor=olivia, store=alice_store)
    response = main_client(olivia).get("/console/audit/")
    html = response.content.decode()
    entries = list(response.context["page"].object_list)
    assert [e.action for e in entries] == ["store.restore", "store.suspend"]
    assert "olivia@example.com" in html
    assert "Suspended a store" in html and "Restored a store" in html
    assert "Fraud review" in html


def test_it_filters_by_action_and_shrugs_off_unknown_ones(olivia, alice_store):
    console_store_suspend(actor=olivia, store=alice_store, reason="x")
    console_impersonation_start(actor=olivia, store=alice_store)
    client = main_client(olivia)
    page = client.get("/console/audit/", {"action": "store.impersonate"}).context["page"]
    assert [e.action for e in page.object_list] == ["store.impersonate"]
    junk = client.get("/console/audit/", {"action": "store.delete_everything"})
    assert "Unknown action" in junk.content.decode()
    assert junk.context["page"].paginator.count == 2


def test_it_pages_with_constant_queries_and_clamps_huge_page_numbers(olivia, alice_store):
    client = main_client(olivia)
    console_impersonation_start(actor=olivia, store=alice_store)
    client.get("/console/audit/")
    with CaptureQueriesContext(connection) as few:
        client.get("/console/audit/")
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(actor=olivia, action="store.impersonate", store=alice_store, target="alice")
            for _ in range(120)
        ]
    )
    with CaptureQueriesContext(connection) as many:
        response = client.get("/console/audit/", {"page": "100000"})
    assert response.context["page"].number == 3
    assert len(many) == len(few)
