"""Reliability: real processes meet real failures (killed workers, a failing Stripe, Redis
or PostgreSQL going away) and the outcome must still be exact.

Data written for the live processes is committed, so those tests make uniquely named
stores. Every wait has a deadline; everything listens on the loopback interface only.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django_tenants.utils import schema_context

from tenants.models import Store
from tests.conftest import make_seller
from tests.factories import product_with_file
from tests.live import (
    ROOT,
    LiveStack,
    _die_with_parent,
    celery_worker_cmd,
    free_port,
    unique,
    wait_for_port,
)

# The thread-served stand-in of tests/payments, for the in-process tests.
from tests.payments.conftest import _standin_server, connect_store, standin  # noqa: F401
from tests.s3 import reset_storages

ARTIFACTS = ROOT / "test-artifacts" / "reliability"

# Short enough that a task whose worker died comes back within the test; far longer
# than any task here runs, so no task still running is handed out a second time.
VISIBILITY_TIMEOUT = 2


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def wait_until(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll until `predicate()` is truthy; return its value or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


class RedisServer:
    """A private redis-server on a free loopback port: we may stop it whenever we like."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir)],
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
            )  # fmt: skip
        wait_for_port(self.port, timeout=10)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def redis_server(request):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = RedisServer(ARTIFACTS / f"redis-{unique('')}").start()
    yield server
    server.stop()
    shutil.rmtree(server.workdir, ignore_errors=True)


class Stack(LiveStack):
    """A LiveStack on a private Redis whose worker we kill and replace.

    The Redis is ours alone, so a short visibility timeout cannot make another test
    session's worker redeliver that session's slow tasks.
    """

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(
            **{
                "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
                "STRIPE_TIMEOUT": "30",
                **extra,
            }
        )

    def kill_worker(self, proc: subprocess.Popen) -> float:
        """SIGKILL: no warm shutdown, no ack, no rollback sent; returns when it is dead."""
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return time.monotonic()

    def start_worker(self, name: str = "worker") -> subprocess.Popen:
        proc = self.start_process(name, celery_worker_cmd(), self.env())
        wait_until(lambda: "ready." in self.log(name), timeout=30, what=f"{name} to be ready")
        return proc

    def log(self, name: str) -> str:
        path = self.artifacts / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def stack(request, redis_server, django_db_setup):
    name = request.node.name.split("[")[0].removeprefix("test_")[:40]
    live = Stack(ARTIFACTS / f"{name}-{unique('')}", redis_url=redis_server.url).start()
    yield live
    live.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.passed:  # logs of a failed run stay for reading
        shutil.rmtree(live.artifacts, ignore_errors=True)


@pytest.fixture
def stack_settings(stack, settings):
    """This test process talks to the same Stripe stand-in and media folder as the stack."""
    settings.STRIPE_API_BASE = stack.stripe_base
    settings.STRIPE_SECRET_KEY = "sk_test_live"
    settings.STRIPE_WEBHOOK_SECRET = stack.webhook_secret
    settings.MEDIA_ROOT = stack.artifacts / "media"
    reset_storages()
    yield settings
    reset_storages()


@pytest.fixture
def committed(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        yield


class _StackStandin:
    """`connect_store` wants an object with `call(method, path, body)`."""

    def __init__(self, stack: LiveStack) -> None:
        self.stack = stack

    def call(self, method: str, path: str, body: dict | None = None):
        return self.stack.standin(method, f"/_standin{path}", body)


def standin_call(stack: LiveStack, method: str, path: str, body: dict | None = None):
    return _StackStandin(stack).call(method, path, body)


def live_store_with_product(stack: LiveStack, **product_kwargs) -> tuple[Store, object]:
    """A committed store whose Stripe account is connected through the stack's stand-in."""
    owner = make_seller(f"{unique('seller')}@example.com")
    from tenants.services import store_create

    store = store_create(owner=owner, name="Reliable Reads", subdomain=unique("rel-"))
    connect_store(store, _StackStandin(stack))
    return store, product_with_file(store, **product_kwargs)


def paid_sessions(stack: LiveStack, store: Store, product, emails: list[str]) -> list[str]:
    """Checkout Sessions created as the Buy button does, then paid at the stand-in."""
    import uuid

    from payments.services import checkout_start

    ids = []
    with schema_context(store.schema_name):
        for email in emails:
            session = checkout_start(
                store=store, product=product, attempt=uuid.uuid4().hex,
                success_url=f"http://{store.host}/thanks/?session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"http://{store.host}/",
            )  # fmt: skip
            standin_call(stack, "POST", f"/sessions/{session.id}/pay", {"email": email})
            ids.append(session.id)
    return ids


@dataclass
class Answer:
    status: int  # 0: no answer (connection refused or reset, or the timeout)
    body: bytes
    seconds: float
    error: str = ""


def http_get(port: int, host: str, path: str, *, timeout: float = 10) -> Answer:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return Answer(response.status, response.read(), time.monotonic() - started)
    except OSError as exc:
        return Answer(0, b"", time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


@contextmanager
def web_server(name: str, *, redis_url: str, **env: str):
    """gunicorn alone (2 workers x 4 threads, DEBUG off), with the environment we choose."""
    web = LiveStack(ARTIFACTS / f"{name}-{unique('')}", redis_url=redis_url)
    web.artifacts.mkdir(parents=True, exist_ok=True)
    failed = True
    try:
        web.start_process(
            "gunicorn",
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b",
             f"127.0.0.1:{web.web_port}", "-w", "2", "--threads", "4", "--timeout", "60"],
            web.env(**env), web.web_port,
        )  # fmt: skip
        yield web
        failed = False
    finally:
        web.stop()
        if not failed:
            shutil.rmtree(web.artifacts, ignore_errors=True)
