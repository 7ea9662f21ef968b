"""Real processes for end-to-end tests: gunicorn, a Celery worker, the stand-ins.

These tests write committed data (the processes cannot see a test's open transaction),
so they use their own uniquely named stores and never the rolled-back `db` fixture.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {port}")


def test_database_url() -> str:
    db = settings.DATABASES["default"]
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def store_cells_for_tests() -> str:
    """STORE_CELLS naming this session's test databases of the other cells (tenants/cells.py)."""
    parts = []
    for name in settings.STORE_CELLS:
        db = settings.DATABASES[f"cell_{name}"]
        host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
        parts.append(f"{name}=postgres://{db.get('USER') or 'postgres'}@{host}:{port}/{db['NAME']}")
    return " ".join(parts)


def process_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_TESTING="1",
        DATABASE_URL=test_database_url(),
        STORE_CELLS=store_cells_for_tests(),
        STRIPE_API_BASE=settings.STRIPE_API_BASE,
        STRIPE_WEBHOOK_SECRET=settings.STRIPE_WEBHOOK_SECRET,
        PYTHONUNBUFFERED="1",
        # Same cache keys as this test process, so its invalidations reach the servers.
        DJANGO_CACHE_PREFIX=settings.CACHES["default"]["KEY_PREFIX"].removeprefix("t-"),
    )
    env.update(extra)
    return env


def _die_with_parent() -> None:
    """Children get SIGTERM when the test process dies, even by SIGKILL (Linux)."""
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def worker_folder(name: str) -> Path:
    """test-artifacts/<name>, one per pytest-xdist worker (`live-gw0`): a stack wipes its
    folder when it starts, and the other worker's stack may be running from its own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return ROOT / "test-artifacts" / (f"{name}-{worker}" if worker else name)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@contextmanager
def running(cmd: list[str], env: dict[str, str], log: Path, port: int | None = None):
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    try:
        if port is not None:
            wait_for_port(port)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def celery_worker_cmd(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        "-l",
        "info",
        "--without-gossip",
        "--without-mingle",
        *extra,
    ]


class LiveStack:
    """gunicorn + a Celery worker on Redis + the Stripe stand-in (+ optional S3 stand-in),
    all as real processes against the test database."""

    def __init__(
        self,
        artifacts: Path,
        *,
        redis_url: str,
        s3: dict[str, str] | None = None,
        webhook_secret: str = "whsec_live_tests",
        queue: str = "live",
    ) -> None:
        # Unique per run: two test sessions sharing a Redis database never take each
        # other's tasks.
        self.queue = unique(f"{queue}-")
        self.artifacts = artifacts
        self.redis_url = redis_url
        self.s3 = s3 or {}
        self.web_port = free_port()
        self.stripe_port = free_port()
        self.webhook_secret = webhook_secret
        self.procs: list[subprocess.Popen] = []
        self.base = f"http://localhost:{self.web_port}"
        self.stripe_base = f"http://127.0.0.1:{self.stripe_port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = process_env(
            DJANGO_DEBUG="False",
            DJANGO_SECURE_SSL_REDIRECT="False",
            DJANGO_SESSION_COOKIE_SECURE="False",
            PLATFORM_SCHEME="http",
            PLATFORM_PORT=str(self.web_port),
            PLATFORM_DOMAIN="localhost",
            STRIPE_SECRET_KEY="sk_test_live",
            STRIPE_API_BASE=self.stripe_base,
            STRIPE_WEBHOOK_SECRET=self.webhook_secret,
            STRIPE_TIMEOUT="3",
            TEST_REDIS_URL=self.redis_url,
            CELERY_TASK_ALWAYS_EAGER="0",
            DJANGO_EMAIL_FILE_PATH=str(self.artifacts / "mail"),
            DJANGO_MEDIA_ROOT=str(self.artifacts / "media"),
            PROTECTED_MEDIA_DELIVERY="stream",
            CELERY_TASK_DEFAULT_QUEUE=self.queue,  # each stack's worker takes only its own tasks
            **self.s3,
        )
        env.update(extra)
        return env

    def start_process(
        self, name: str, cmd: list[str], env: dict[str, str], port: int | None = None
    ):
        log = open(self.artifacts / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        self.procs.append(proc)
        if port is not None:
            wait_for_port(port)
        return proc

    def start(self) -> LiveStack:
        import shutil

        import redis

        # Nothing queued by an earlier, interrupted run may reach this run's worker.
        redis.Redis.from_url(self.redis_url).delete(self.queue)
        shutil.rmtree(self.artifacts, ignore_errors=True)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        env = self.env()
        self.start_process(
            "stripe-standin",
            [
                sys.executable,
                "-m",
                "devtools.stripe_standin",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.stripe_port),
                "--public-url",
                f"http://localhost:{self.stripe_port}",
                "--webhook-url",
                f"http://127.0.0.1:{self.web_port}/stripe/webhook/",
                "--webhook-host",
                f"localhost:{self.web_port}",
                "--webhook-secret",
                self.webhook_secret,
            ],
            env,
            self.stripe_port,
        )
        self.start_process(
            "gunicorn",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "-b",
                f"127.0.0.1:{self.web_port}",
                "-w",
                "2",
                "--threads",
                "4",
                "--timeout",
                "60",
            ],
            env,
            self.web_port,
        )
        self.worker = self.start_worker()
        return self

    def start_worker(self) -> subprocess.Popen:
        return self.start_process("worker", celery_worker_cmd(), self.env())

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def standin(self, method: str, path: str, body: dict | None = None):
        import json
        import urllib.request

        request = urllib.request.Request(
            f"{self.stripe_base}{path}",
            method=method,
            data=json.dumps(body or {}).encode() if method != "GET" else None,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
