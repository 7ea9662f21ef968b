"""Host → store, cached so a warm request costs no database round trip.

The cache entry is the Store row itself (or a "not found" marker), in the `routing` cache
(Redis in production, shared by every process; keys do not depend on the connection's
schema). Saving or deleting a store or a domain drops the entries of every host of that
store (tenants.signals), so a suspension or a new domain takes effect on the next
request.
"""

from __future__ import annotations

from django.core.cache import caches
from django.db import transaction

from .models import Domain, Store

_MISSING = "missing"
TTL = 300


def _key(host: str) -> str:
    return f"tenants:host:{host}"


def store_for_host(host: str) -> Store | None:
    """The store serving this host, or None."""
    cache = caches["routing"]
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


def hosts_forget(hosts: list[str]) -> None:
    keys = [_key(h) for h in hosts]
    caches["routing"].delete_many(keys)
    # Again after commit: a request between the write and the commit may have cached
    # the old row.
    transaction.on_commit(lambda: caches["routing"].delete_many(keys))
