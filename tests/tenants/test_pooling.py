"""PgBouncer in front of the test cluster: transaction mode mixes stores' schemas, and the
platform refuses it (tenants.pooling); session mode is safe and passes.

A real PgBouncer (Debian package `pgbouncer`, installed by the devstack like chromium) with
a pool of one server connection, so two clients are sure to share it. The clients are the
platform's own database backend (django-tenants' wrapper, TENANT_LIMIT_SET_CALLS on, as in
production) aimed at the pooler's port.
"""

from __future__ import annotations

import copy
import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings
from django_tenants.postgresql_backend.base import DatabaseWrapper

from tenants import pooling
from tests.live import free_port, wait_for_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
pytestmark = pytest.mark.skipif(
    not os.path.exists(PGBOUNCER), reason="pgbouncer is not installed (apt-get install pgbouncer)"
)


@contextmanager
def pgbouncer(mode: str, pool_size: int = 1):
    """A PgBouncer in `mode` in front of the test database's server; yields its port."""
    db = connection.settings_dict
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    (folder / "users.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={db.get("HOST") or "127.0.0.1"} port={db.get("PORT") or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = {mode}
default_pool_size = {pool_size}
max_client_conn = 20
ignore_startup_parameters = extra_float_digits,options
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""
    )
    cmd = [PGBOUNCER, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        pg = pwd.getpwnam("postgres")
        for path in [folder, *folder.iterdir()]:
            os.chown(path, pg.pw_uid, pg.pw_gid)
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=15)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def two_schemas(db):
    """Schemas pool_alice and pool_mallory, each a table with its owner's secret, committed
    (the clients through the pooler are other sessions)."""
    params = connection.get_connection_params()
    raw = psycopg2.connect(**params)
    raw.autocommit = True
    with raw.cursor() as cur:
        for name in ("pool_alice", "pool_mallory"):
            cur.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}")
            cur.execute(
                f"CREATE TABLE {name}.secret (v text); INSERT INTO {name}.secret VALUES (%s)",
                [name],
            )
    yield
    with raw.cursor() as cur:
        cur.execute("DROP SCHEMA pool_alice CASCADE; DROP SCHEMA pool_mallory CASCADE")
    raw.close()


@pytest.fixture(autouse=True)
def _fresh_verdicts():
    pooling.verdicts.clear()
    yield
    pooling.verdicts.clear()


def client_through(port: int, alias: str) -> DatabaseWrapper:
    """The platform's database backend, connecting to `port` instead of the server."""
    settings_dict = copy.deepcopy(connection.settings_dict)
    settings_dict.update(HOST="127.0.0.1", PORT=port, CONN_MAX_AGE=0)
    return DatabaseWrapper(settings_dict, alias=alias)


def secret_seen(client: DatabaseWrapper, schema: str | None = None) -> str:
    if schema is not None:
        client.set_schema(schema, include_public=False)
    with client.cursor() as cur:
        cur.execute("SELECT v FROM secret")
        return cur.fetchone()[0]


def test_without_the_check_transaction_pooling_serves_alices_query_from_mallorys_schema(
    two_schemas,
):
    with pgbouncer("transaction") as port, override_settings(DATABASE_POOLING_CHECK=False):
        alice, mallory = client_through(port, "alice"), client_through(port, "mallory")
        try:
            assert secret_seen(alice, "pool_alice") == "pool_alice"
            assert secret_seen(mallory, "pool_mallory") == "pool_mallory"
            # Alice's connection still believes its path is set (TENANT_LIMIT_SET_CALLS):
            # no SET goes out, and the pooler gives her Mallory's server session.
            assert secret_seen(alice) == "pool_mallory"
        finally:
            alice.close()
            mallory.close()


def test_the_check_refuses_a_transaction_pooler_before_any_query_runs(two_schemas):
    with pgbouncer("transaction") as port:
        alice = client_through(port, "alice")
        with pytest.raises(ImproperlyConfigured, match="pool_mode = session"):
            secret_seen(alice, "pool_alice")
        # And stays refused: every later connection of this process too.
        with pytest.raises(ImproperlyConfigured, match="transaction or statement mode"):
            alice.ensure_connection()
        assert alice.connection is None


def test_the_check_refuses_statement_pooling_too(two_schemas):
    with pgbouncer("statement") as port, pytest.raises(ImproperlyConfigured):
        client_through(port, "alice").ensure_connection()


def test_session_pooling_passes_the_check_and_keeps_each_store_in_its_schema(two_schemas):
    # A server session per connected client (and one for the check's second client).
    with pgbouncer("session", pool_size=4) as port:
        alice, mallory = client_through(port, "alice"), client_through(port, "mallory")
        try:
            assert secret_seen(alice, "pool_alice") == "pool_alice"
            assert secret_seen(mallory, "pool_mallory") == "pool_mallory"
            assert secret_seen(alice) == "pool_alice"
            assert secret_seen(mallory) == "pool_mallory"
            assert pooling.verdicts and all(v is None for v in pooling.verdicts.values())
        finally:
            alice.close()
            mallory.close()


def test_a_direct_connection_passes_the_check(db):
    params = connection.get_connection_params()
    raw = psycopg2.connect(**params)
    raw.autocommit = True
    try:
        assert pooling.sessions_unpinned_reason(raw, params) is None
    finally:
        raw.close()
