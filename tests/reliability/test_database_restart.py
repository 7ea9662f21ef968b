"""PostgreSQL restarts under load: a private cluster, taken down for a few seconds while
eight clients read the storefront, then brought back. While it is down every request
fails fast and plainly (a 5xx, no hang, no traceback); once it is back the very same
gunicorn processes serve again. A quick `pg_ctl restart` between requests costs not one
request, because every pooled connection is health-checked before reuse
(CONN_HEALTH_CHECKS).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
import pytest

from tests.live import ROOT, free_port, process_env
from tests.reliability.conftest import Answer, http_get, wait_until, web_server

CLIENTS = 8
REQUEST_TIMEOUT = 10.0
LEAKS = (b"Traceback", b"OperationalError", b"psycopg2", b'File "/')


def _pg_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    return candidates[0].parent if candidates else None


class PrivatePostgres:
    """A throwaway cluster on a free port (the approach of devtools/devstack.py)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pp-reliability-pg-"))
        self.root.chmod(0o755)  # the server user must reach its folders inside
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:  # initdb and postgres refuse to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=60)

    def create(self) -> PrivatePostgres:
        for folder in (self.data, self.sockets):
            folder.mkdir()
            if self.as_root:
                user = pwd.getpwnam("postgres")
                os.chown(folder, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-instructions")  # fmt: skip
        self.start()
        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
        )
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("CREATE DATABASE shop")
        conn.close()
        return self

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")  # fmt: skip
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.sockets / "log"),
                  "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "restart")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/shop"


SEED = """
import json
from django_tenants.utils import schema_context
from tenants.services import store_create
from tests.conftest import make_seller
from tests.factories import product_with_file
store = store_create(owner=make_seller("uptime@example.com"), name="Uptime Books", subdomain="uptime")
product = product_with_file(store, title="Staying Up")
with schema_context(store.schema_name):
    print(json.dumps({"host": store.host, "product": product.get_absolute_url()}))
"""


@pytest.fixture
def cluster():
    bindir = _pg_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server")
    pg = PrivatePostgres(bindir)
    try:
        yield pg.create()
    finally:
        pg.destroy()


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    return done.stdout


def _worker_pids(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def test_a_database_restart_under_load_fails_fast_then_the_same_servers_recover(cluster, tmp_path):
    env = process_env(DATABASE_URL=cluster.url, DJANGO_MEDIA_ROOT=str(tmp_path / "media"),
                      PLATFORM_DOMAIN="localhost", TEST_REDIS_URL="")  # fmt: skip
    _manage(env, "migrate_platform", "-v", "0")
    shop = json.loads(_manage(env, "shell", "-c", SEED).strip().splitlines()[-1])
    # A query string renders the pages live (catalog.page_cache): each request needs the
    # database, which is what this test is about.
    paths = ["/?live", shop["product"] + "?live"]

    # No Redis at all: the database is the only shared state in play.
    with web_server("db-restart", redis_url="", DATABASE_URL=cluster.url,
                    DJANGO_MEDIA_ROOT=str(tmp_path / "media")) as web:  # fmt: skip
        master = web.procs[0].pid
        wait_until(lambda: len(_worker_pids(master)) == 2, timeout=20, what="two gunicorn workers")
        workers = _worker_pids(master)
        for path in paths:
            assert http_get(web.web_port, shop["host"], path).status == 200

        results: list[tuple[float, Answer]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(n: int) -> None:
            i = n
            while not stop.is_set():
                started = time.monotonic()
                answer = http_get(web.web_port, shop["host"], paths[i % 2], timeout=REQUEST_TIMEOUT)
                with lock:
                    results.append((started, answer))
                i += 1

        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(3)
            # Requests fail from the moment the shutdown starts (backends are cut), and
            # a fast shutdown can take a second on a busy machine: "before" ends here.
            stopping_at = time.monotonic()
            cluster.stop()  # fast shutdown: every backend (each pooled connection) is cut
            down_at = time.monotonic()
            time.sleep(3)
            up_from = time.monotonic()
            cluster.start()
            up_at = time.monotonic()
            time.sleep(6)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=REQUEST_TIMEOUT + 5)
        assert not any(thread.is_alive() for thread in threads)

        # Every request got an answer in time, and none leaked internals.
        assert all(answer.status for _, answer in results), {
            a.error for _, a in results if not a.status
        }
        assert max(answer.seconds for _, answer in results) < 5
        for _, answer in results:
            assert not any(leak in answer.body for leak in LEAKS), answer.body[:500]

        before = [a for t, a in results if t + a.seconds < stopping_at - 0.5]
        during = [a for t, a in results if t > down_at and t + a.seconds < up_from]
        after = [a for t, a in results if t > up_at + 1]
        assert before and {a.status for a in before} == {200}
        # Down: each request fails at once and plainly.
        assert len(during) >= CLIENTS, len(during)
        assert {a.status for a in during} <= {500, 503}, {a.status for a in during}
        assert max(a.seconds for a in during) < 2
        # Back: everything serves again, from the very same processes.
        assert len(after) >= CLIENTS and {a.status for a in after} == {200}, {
            a.status for a in after
        }
        assert web.procs[0].poll() is None
        assert _worker_pids(master) == workers

        # A restart between requests: every pooled connection is dead, and since each is
        # checked before reuse, not one request notices.
        cluster.restart()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            quiet = list(pool.map(lambda i: http_get(web.web_port, shop["host"], paths[i % 2]),
                                  range(5 * CLIENTS)))  # fmt: skip
        assert [a.status for a in quiet] == [200] * len(quiet)
        assert _worker_pids(master) == workers
        assert "WORKER TIMEOUT" not in (web.artifacts / "gunicorn.log").read_text(errors="replace")
