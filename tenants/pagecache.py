"""Whole pages of a store, cached for anonymous visitors, and forgotten when the store changes.

Each store has a version token (`pages:<schema>:version`); a page is stored with the token
it was rendered under, and served only while the store's token is still the same. Anything
that changes what a store's pages show (the store row, a domain, a product, a price, a
cover) calls `store_pages_forget`, which gives the store a new token: every page of that
store is stale at once, and no other store's. The token is replaced immediately and again
after the commit, so a page rendered from the old rows between the two is never served
under the new token.

Keys carry the schema explicitly (the `pages` cache has plain keys, like `routing`), so
one store's pages can never answer for another's; a read is one round trip (the token and
the page together). What is cached and when is the storefront's business (catalog.page_cache);
this module is here so the tenants app can forget a store's pages when the store changes.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.cache import caches
from django.db import transaction

TTL = 600


def _cache():
    return caches["pages"]


def _version_key(schema_name: str) -> str:
    return f"pages:{schema_name}:version"


def _page_key(schema_name: str, key: str) -> str:
    return f"pages:{schema_name}:page:{key}"


def page_get(schema_name: str, key: str) -> tuple[str, Any]:
    """(the store's current version token, the page cached under it or None)."""
    version_key, page_key = _version_key(schema_name), _page_key(schema_name, key)
    found = _cache().get_many([version_key, page_key])
    version = found.get(version_key)
    if version is None:
        version = secrets.token_hex(8)
        if not _cache().add(version_key, version, None):
            version = _cache().get(version_key) or version
        return version, None
    entry = found.get(page_key)
    if entry is None or entry[0] != version:
        return version, None
    return version, entry[1]


def page_set(schema_name: str, key: str, version: str, page: Any) -> None:
    """Store a page rendered while the store's token was `version` (read before rendering)."""
    _cache().set(_page_key(schema_name, key), (version, page), TTL)


def version_in_redis(schema_name: str, version: str) -> tuple[str, bytes]:
    """The store's version key as Redis names it, and the bytes it holds while the token is
    `version`: config.edge compares them inside Redis, with the page read."""
    cache = _cache()
    return cache.make_key(_version_key(schema_name)), cache.client.encode(version, allow_int=False)


def store_pages_forget(schema_name: str) -> None:
    key = _version_key(schema_name)
    _cache().set(key, secrets.token_hex(8), None)
    transaction.on_commit(lambda: _cache().set(key, secrets.token_hex(8), None))
