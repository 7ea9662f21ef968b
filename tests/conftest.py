"""The cast: Alice owns store `alice`, Bob buys from her, Mallory owns store `mallory`
and must never see or fetch anything of Alice's.

Tests run on real PostgreSQL (schemas are the product). Each test runs in a transaction
that is rolled back, store schemas included (PostgreSQL DDL is transactional).
"""

from __future__ import annotations

import functools

import pytest
from allauth.account.models import EmailAddress
from django.core.cache import cache, caches
from django.db import connection, connections
from django.test import Client

from tenants.models import Store
from tenants.provisioning import template_refresh
from tenants.services import store_create

PASSWORD = "correct-horse-battery-staple"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """On several workers (pytest-xdist's `--dist loadgroup`, as `devtools.devstack test`
    runs the suite) a file's tests stay together on one worker, in their order, as they
    run in one process: its module fixtures (a live stack, a browser) are set up once. A
    test marked `xdist_group(name)` goes with the others of that name instead."""
    if getattr(config.option, "dist", "no") != "loadgroup":
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker, django_db_modify_db_settings):
    """Always the test database, even when only end-to-end tests (which use no `db`
    fixture) are collected: pytest-django would otherwise set up no database at all and
    leave the connection on the developer's."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        # Every cell too (STORE_CELLS: devtools.devstack starts a second cluster for it).
        config = setup_databases(verbosity=0, interactive=False, aliases=set(connections))
        # New stores are built from the template's recorded DDL, as in production.
        template_refresh()
    yield
    with django_db_blocker.unblock():
        # Servers started by end-to-end tests may still be closing their connections.
        for alias in connections:
            with connections[alias].cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
        teardown_databases(config, verbosity=0)


def _cache_clear() -> None:
    """Empty this session's cache keys only (other sessions may share the Redis database)."""
    from django.conf import settings

    if not settings.REDIS_URL:
        cache.clear()
        caches["routing"].clear()
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _clean_cache_and_schema():
    _cache_clear()
    yield
    connection.set_schema_to_public()


@functools.cache
def _password_hash(email: str) -> str:
    """PASSWORD as the real hasher stores it (PBKDF2, a million rounds: 0.5 to 1 s of CPU
    on the CI machine), hashed once per address and test process instead of once per test:
    alice@example.com is made for most tests, and hashing was most of what her fixture
    cost. Each address has a salt of its own, and logins verify it with the real hasher."""
    from django.contrib.auth.hashers import make_password

    return make_password(PASSWORD)


def make_user(email: str, *, superuser: bool = False):
    """A user whose password is PASSWORD (hashed once per address: _password_hash)."""
    from sellers.models import User

    make = User.objects.create_superuser if superuser else User.objects.create_user
    user = make(email)  # no password yet: nothing to hash
    user.password = _password_hash(user.email)
    user.save(update_fields=["password"])
    return user


def make_seller(email: str, *, verified: bool = True):
    user = make_user(email)
    EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
    return user


@pytest.fixture
def alice(db):
    return make_seller("alice@example.com")


@pytest.fixture
def mallory(db):
    return make_seller("mallory@example.com")


@pytest.fixture
def alice_store(alice) -> Store:
    return store_create(owner=alice, name="Alice's Guides", subdomain="alice")


@pytest.fixture
def mallory_store(mallory) -> Store:
    return store_create(owner=mallory, name="Mallory Mart", subdomain="mallory")


def store_client(store: Store, user=None) -> Client:
    client = Client(HTTP_HOST=store.host)
    if user is not None:
        client.force_login(user)
    return client


def main_client(user=None) -> Client:
    from django.conf import settings

    client = Client(HTTP_HOST=settings.PLATFORM_DOMAIN)
    if user is not None:
        client.force_login(user)
    return client
