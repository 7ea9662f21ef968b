from __future__ import annotations

from django.conf import settings
from django.db import connection

from tenants.services import store_create


def _structure(schema: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default IS NOT NULL "
            "FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 2",
            [schema],
        )
        columns = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, regexp_replace(indexdef, ' ON [^ ]+\\.', ' ON ') FROM pg_indexes "
            "WHERE schemaname = %s ORDER BY 1",
            [schema],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conname, contype FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE n.nspname = %s ORDER BY 1",
            [schema],
        )
        constraints = cursor.fetchall()
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations ORDER BY 1, 2')
        migrations = cursor.fetchall()
    return {
        "columns": columns,
        "indexes": indexes,
        "constraints": constraints,
        "migrations": migrations,
    }


def test_a_new_store_schema_matches_the_migrated_template_exactly(alice):
    store = store_create(owner=alice, name="Alice", subdomain="alice")
    built = _structure(store.schema_name)
    template = _structure(settings.STORE_TEMPLATE_SCHEMA)
    assert built == template
    assert ("catalog", "0001_initial") in built["migrations"]


def test_identity_sequences_belong_to_each_store(alice, mallory):
    from django_tenants.utils import schema_context

    from catalog.models import Product

    a = store_create(owner=alice, name="A", subdomain="alice")
    m = store_create(owner=mallory, name="M", subdomain="mallory")
    for store in (a, m):
        with schema_context(store.schema_name):
            product = Product.objects.create(title="T", slug="t", price=500)
            assert product.pk == 1  # each schema counts on its own
