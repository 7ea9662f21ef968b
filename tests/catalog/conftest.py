"""Catalog fixtures: private storage on a per-test local folder by default, the real S3
stand-in (moto_server over HTTP) for the tests that ask for it, and Alice's store able to
take charges."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django_tenants.utils import schema_context

from tenants.models import Store
from tenants.services import store_set_charges
from tests.s3 import S3Server, moto_server, reset_storages, s3_storage


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings) -> Iterator[Path]:
    """Every test writes its files to a folder of its own (and never to .run/media)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = dict(settings.STORAGES)  # fires Django's storage-cache reset
    reset_storages()
    yield root
    reset_storages()


@pytest.fixture(autouse=True)
def catalog_urls(settings) -> None:
    # Store domains route with ROOT_URLCONF (see tenants.middleware).
    settings.ROOT_URLCONF = "tests.catalog.urls"


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


@pytest.fixture
def s3(moto_s3: S3Server) -> Iterator[S3Server]:
    """Private storage on the moto bucket for this test."""
    with s3_storage(moto_s3):
        yield moto_s3


@pytest.fixture
def alice_charging(alice_store: Store) -> Store:
    """Alice's store with a connected Stripe account that can take charges."""
    return store_set_charges(store_id=alice_store.pk, can_take_charges=True)


@pytest.fixture
def mallory_charging(mallory_store: Store) -> Store:
    return store_set_charges(store_id=mallory_store.pk, can_take_charges=True)


@pytest.fixture
def in_alice(alice_store: Store) -> Iterator[Store]:
    with schema_context(alice_store.schema_name):
        yield alice_store


def stored_files(root: Path) -> list[str]:
    """Every file under MEDIA_ROOT, relative to it."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
