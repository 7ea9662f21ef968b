"""Storage keys and cache keys carry the store: nothing Mallory's code path can name reaches
Alice's files or Alice's cache entries.

The traversal corpus is generated (every short combination of the pieces attackers use), and
each name is checked on both backends: the local disk (the real path on disk) and S3 (the key
in a presigned URL, which boto3 signs offline, so no server is needed for it).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.test import override_settings

from catalog.storage import private_storage
from tests.conftest import store_client
from tests.factories import in_schema
from tests.s3 import reset_storages

PIECES = ["..", ".", "", "products", "tenants", "{alice}", "%2e%2e", "..\\..", "C:", "\x00x", "~"]
JOINERS = ["/", "\\", "//"]
REFUSALS = (SuspiciousFileOperation, ValueError)


def hostile_names(alice_schema: str) -> list[str]:
    pieces = [p.replace("{alice}", alice_schema) for p in PIECES]
    names = {
        joiner.join(combo) + tail
        for joiner in JOINERS
        for combo in itertools.product(pieces, repeat=3)
        for tail in ("", "/x.pdf")
    }
    names |= {"/" + n for n in list(names)[:200]}
    names |= {
        f"../{alice_schema}/products/x.pdf",
        f"../../tenants/{alice_schema}/products/x.pdf",
        "/etc/passwd",
        "\\\\server\\share\\x.pdf",
        "c:/windows/x.pdf",
        "products/\u2025/x.pdf",
        "products/..\u2215..\u2215x.pdf",
    }
    return sorted(names)


@pytest.fixture
def s3_offline(settings):
    """Private storage on S3 settings with no server: URLs are signed locally."""
    backend = {"BACKEND": "catalog.storage.StoreS3Storage", "OPTIONS": {}}
    with override_settings(
        STORAGES={**settings.STORAGES, "default": backend, "private": backend},
        AWS_STORAGE_BUCKET_NAME="bucket",
        AWS_ACCESS_KEY_ID="key",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_S3_ENDPOINT_URL="http://127.0.0.1:9",
    ):
        reset_storages()
        yield
    reset_storages()


def test_a_file_saved_in_alices_schema_is_under_her_prefix_only(
    alice_store, mallory_store, media_root: Path
):
    with in_schema(alice_store):
        name = private_storage().save("products/guide.pdf", ContentFile(b"%PDF-alice"))
        assert not name.startswith("tenants/")  # the database keeps store-relative names
    alice_file = media_root / "tenants" / alice_store.schema_name / name
    assert alice_file.read_bytes() == b"%PDF-alice"
    with in_schema(mallory_store):
        storage = private_storage()
        assert storage.path(name) == str(media_root / "tenants" / mallory_store.schema_name / name)
        assert not storage.exists(name)
        with pytest.raises(FileNotFoundError):
            storage.open(name)
        storage.delete(name)  # a miss, not Alice's file
    assert alice_file.exists()


def test_in_mallorys_schema_no_hostile_name_leaves_her_folder_on_disk(
    alice_store, mallory_store, media_root: Path
):
    mallory_root = os.path.realpath(media_root / "tenants" / mallory_store.schema_name) + os.sep
    escaped, accepted = [], 0
    with in_schema(mallory_store):
        storage = private_storage()
        for name in hostile_names(alice_store.schema_name):
            try:
                path = os.path.realpath(storage.path(name))
            except REFUSALS:
                continue
            accepted += 1
            if not path.startswith(mallory_root):
                escaped.append((name, path))
    assert not escaped, escaped[:10]
    assert accepted > 100  # the corpus also holds harmless names: the check really ran


def test_in_mallorys_schema_no_hostile_name_leaves_her_prefix_on_s3(
    alice_store, mallory_store, s3_offline
):
    prefix = f"tenants/{mallory_store.schema_name}/"
    escaped, accepted = [], 0
    with in_schema(mallory_store):
        storage = private_storage()
        for name in hostile_names(alice_store.schema_name):
            try:
                url = storage.url(name)
            except REFUSALS:
                continue
            accepted += 1
            key = unquote(urlsplit(url).path).removeprefix("/bucket/")
            if not key.startswith(prefix) or "/../" in f"/{key}/":
                escaped.append((name, key))
    assert not escaped, escaped[:10]
    assert accepted > 100


def test_saving_hostile_names_writes_nothing_outside_the_stores_folder(
    alice_store, mallory_store, media_root: Path
):
    with in_schema(mallory_store):
        storage = private_storage()
        for name in hostile_names(alice_store.schema_name)[::40]:
            try:
                storage.save(name, ContentFile(b"mallory"))
            except REFUSALS:
                pass
            except OSError:
                pass  # "products" saved as a file, then "products/x.pdf": a clash, not an escape
    outside = [
        p
        for p in media_root.rglob("*")
        if p.is_file() and not p.is_relative_to(media_root / "tenants" / mallory_store.schema_name)
    ]
    assert outside == []
    assert not (media_root / "tenants" / alice_store.schema_name).exists()


def test_store_files_are_unreachable_outside_a_store(db):
    with pytest.raises(ImproperlyConfigured):
        private_storage().exists("products/x.pdf")


def test_a_cache_entry_set_in_alices_schema_is_not_visible_in_mallorys(alice_store, mallory_store):
    with in_schema(alice_store):
        cache.set("library:email:bob@example.com", "alice's", 60)
        cache.set("counter", 5, 60)
        assert cache.make_key("counter").startswith(f"{alice_store.schema_name}:")
    with in_schema(mallory_store):
        assert cache.get("library:email:bob@example.com") is None
        assert cache.get("counter") is None
        cache.set("counter", 1, 60)
        cache.incr("counter")
        cache.delete("library:email:bob@example.com")
    assert cache.get("counter") is None  # the public schema has its own keys too
    with in_schema(alice_store):
        assert cache.get("library:email:bob@example.com") == "alice's"
        assert cache.get("counter") == 5


def test_a_rate_limit_used_up_on_alices_store_does_not_limit_mallorys(alice_store, mallory_store):
    from payments.views import LIBRARY_LIMIT_PER_EMAIL

    email = {"email": "bob@example.com"}
    alice_client, mallory_client = store_client(alice_store), store_client(mallory_store)
    for _ in range(LIBRARY_LIMIT_PER_EMAIL):
        assert alice_client.post("/library/", email).status_code == 200
    assert alice_client.post("/library/", email).status_code == 429
    assert mallory_client.post("/library/", email).status_code == 200
