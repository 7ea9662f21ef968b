"""tenants.prepared: one prepared statement per name and schema, bounded per connection."""

from __future__ import annotations

import pytest
from django.db import connection

from tenants import prepared
from tests.factories import in_schema


def _server_statements(prefix: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE %s", [f"{prefix}%"]
        )
        return cursor.fetchone()[0]


def test_a_statement_is_prepared_once_per_schema_and_answers_in_each(
    alice_store, mallory_store, db
):
    for store in (alice_store, mallory_store, alice_store):
        with in_schema(store):
            row = prepared.fetchone("default", "probe_schema", "SELECT current_schema()", [])
            assert row == (store.schema_name,)
    assert _server_statements("pp_probe_schema_") == 2


def test_a_connection_keeps_at_most_its_cap_of_statements(db, monkeypatch):
    monkeypatch.setattr(prepared, "MAX_PER_CONNECTION", 3)
    for n in range(7):
        assert prepared.fetchone("default", f"probe_cap_{n}", "SELECT %s::int + 1", [n]) == (n + 1,)
    assert _server_statements("pp_probe_cap_") <= 3
    # Still answering after the drop, with a fresh PREPARE where needed.
    assert prepared.fetchone("default", "probe_cap_0", "SELECT %s::int + 1", [41]) == (42,)


def test_it_refuses_what_it_cannot_prepare(db):
    with pytest.raises(ValueError, match="placeholders only"):
        prepared.fetchone("default", "probe_bad", "SELECT 'a' LIKE 'a%%'", [])
    with pytest.raises(ValueError, match="not a prepared statement name"):
        prepared.fetchone("default", "Probe; DROP", "SELECT 1", [])
    with pytest.raises(ValueError, match="1 placeholders, 2 parameters"):
        prepared.fetchone("default", "probe_count", "SELECT %s::int", [1, 2])
