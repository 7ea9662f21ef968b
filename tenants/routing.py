"""Host → store, cached so a warm request costs no database round trip.

The cache entry is the Store row itself (or a "not found" marker). Saving or deleting a
store or a domain drops the entries of every host of that store (tenants.signals), so a
suspension or a new domain takes effect on the next request, in every process that shares
the cache (Redis in production).
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from .models import Domain, Store

_MISSING = "missing"
TTL = 300


def _key(host: str) -> str:
    return f"tenants:host:{host}"


def store_for_host(host: str) -> Store | None:
    """The store serving this host, or None. Runs in the public schema."""
    key = _key(host)
    cached = cache.get(key)
    if cached is not None:
        return None if cached == _MISSING else cached
    domain = (
        Domain.objects.select_related("tenant")
        .filter(domain=host)
        .exclude(is_custom=True, verified_at__isnull=True)
        .first()
    )
    store = domain.tenant if domain else None
    cache.set(key, store if store is not None else _MISSING, TTL)
    return store


def _delete(keys: list[str]) -> None:
    # Keys carry the schema of the connection (django_tenants.cache.make_key); routing
    # always reads in public, so always delete in public too.
    tenant = getattr(connection, "tenant", None)
    connection.set_schema_to_public()
    try:
        cache.delete_many(keys)
    finally:
        if tenant is not None and tenant.schema_name != settings.PUBLIC_SCHEMA_NAME:
            connection.set_tenant(tenant)


def hosts_forget(hosts: list[str]) -> None:
    keys = [_key(h) for h in hosts]
    _delete(keys)
    # Again after commit: a request between the write and the commit may have cached
    # the old row.
    transaction.on_commit(lambda: _delete(keys))
