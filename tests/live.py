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


def process_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_TESTING="1",
        DATABASE_URL=test_database_url(),
        STRIPE_API_BASE=settings.STRIPE_API_BASE,
        STRIPE_WEBHOOK_SECRET=settings.STRIPE_WEBHOOK_SECRET,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@contextmanager
def running(cmd: list[str], env: dict[str, str], log: Path, port: int | None = None):
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
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
        sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
        "--concurrency=1", "-l", "info", "--without-gossip", "--without-mingle", *extra,
    ]
