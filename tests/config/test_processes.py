"""Metrics across real processes: gunicorn's workers (deploy/gunicorn.conf.py) add up in one
/metrics, a prefork Celery worker's pool processes add up in its exporter, and the worker's
errors reach Sentry with the store's schema. Logs of both are JSON lines without tokens."""

from __future__ import annotations

import http.client
import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from tests.config.conftest import METRICS_TOKEN, samples, value
from tests.config.sentry_ingest import SentryIngest
from tests.live import ROOT, free_port, process_env, running, unique

P = "product_purchase_"
SECRET = "Sup3rSecretDownloadToken_abcdefghijklmnop"


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _live_env(**extra: str) -> dict[str, str]:
    return process_env(
        DJANGO_DEBUG="False",
        DJANGO_SECURE_SSL_REDIRECT="False",
        DJANGO_SESSION_COOKIE_SECURE="False",
        PLATFORM_DOMAIN="localhost",
        PLATFORM_SCHEME="http",
        STRIPE_SECRET_KEY="sk_test_processes",
        TEST_REDIS_URL=settings.REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="0",
        DJANGO_EMAIL_URL="consolemail://",
        **extra,
    )


def test_gunicorn_workers_add_up_in_one_metrics_page(django_db_setup, tmp_path):
    port = free_port()
    multiproc = tmp_path / "prometheus"
    (multiproc / "stale").mkdir(parents=True)  # a previous run's leftovers are emptied
    (multiproc / "counter_1.db").write_bytes(b"junk")
    env = _live_env(
        PORT=str(port),
        GUNICORN_BIND_HOST="127.0.0.1",
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="2",
        METRICS_TOKEN=METRICS_TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    log = tmp_path / "gunicorn.log"
    cmd = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py")]
    with running(cmd, env, log, port=port):
        host = {"Host": "localhost"}
        sent = 0

        def pids() -> set[str]:
            return {p.name.split("_")[-1] for p in multiproc.glob("counter_*.db")}

        # Concurrent rounds until both workers have answered some (the kernel decides who).
        with ThreadPoolExecutor(8) as pool:
            while sent < 40 or (len(pids()) < 2 and sent < 800):
                statuses = list(pool.map(lambda _: _get(port, "/healthz", host)[0], range(8)))
                assert statuses == [200] * 8
                sent += 8
        assert len(pids()) == 2, f"both workers answered: {sorted(pids())}"
        assert _get(port, f"/d/{SECRET}/", host)[0] == 404
        auth = {**host, "Authorization": f"Bearer {METRICS_TOKEN}"}
        for _ in range(6):  # whichever worker answers, the total is the same
            status, body = _get(port, "/metrics", auth)
            assert status == 200
            parsed = samples(body.decode())
            assert (
                value(parsed, f"{P}http_requests_total", view="healthz", method="GET", status="200")
                == sent
            )
            assert value(parsed, f"{P}http_request_duration_seconds_count", view="healthz") == sent
        assert _get(port, "/metrics", host)[0] == 403
    text = log.read_text(errors="replace")
    assert SECRET not in text
    access = [json.loads(line) for line in text.splitlines() if '"GET /d/' in line]
    assert access and "/d/[token]/" in access[0]["message"] and " rid=" in access[0]["message"]
    app_line = next(json.loads(line) for line in text.splitlines() if "Not Found: /d/" in line)
    assert app_line["message"] == "Not Found: /d/[token]/" and len(app_line["request_id"]) == 32


@pytest.fixture
def committed_store(django_db_setup, django_db_blocker):
    from tenants.services import store_create
    from tests.conftest import make_seller

    with django_db_blocker.unblock():
        store = store_create(
            owner=make_seller(f"{unique('ops')}@example.com"),
            name="Ops Store",
            subdomain=unique("ops-"),
        )
        yield store
        store.delete(force_drop=True)


def test_a_prefork_worker_counts_its_tasks_and_reports_errors_to_sentry(committed_store, tmp_path):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (the suite's TEST_REDIS_URL)")
    from config.celery import app

    queue = unique("ops-metrics-")
    port = free_port()
    with SentryIngest() as sentry:
        env = _live_env(
            CELERY_TASK_DEFAULT_QUEUE=queue,
            CELERY_METRICS_PORT=str(port),
            SENTRY_DSN=sentry.dsn,
        )
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the worker makes its own
        cmd = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork",
            "--concurrency=2", "-l", "info", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        log = tmp_path / "worker.log"
        with running(cmd, env, log, port=port):
            with schema_context(committed_store.schema_name):
                # No such purchases: each run raises DoesNotExist. Three ids, since runs for
                # one id are claimed one at a time (a concurrent second one would skip).
                for missing in (987654, 987655, 987656):
                    app.send_task("payments.tasks.send_receipt", args=[missing], queue=queue)
            for _ in range(2):
                app.send_task("payments.webhooks.retry_failed_events", queue=queue)

            def figures() -> dict:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    return samples(r.read().decode())

            deadline = time.monotonic() + 60
            while True:
                parsed = figures()
                failures = value(
                    parsed, f"{P}celery_task_failures_total", task="payments.tasks.send_receipt"
                )
                done = value(
                    parsed,
                    f"{P}celery_tasks_total",
                    task="payments.webhooks.retry_failed_events",
                    state="success",
                )
                if (failures, done) == (3, 2) or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert (failures, done) == (3, 2), log.read_text(errors="replace")[-3000:]
            events = sentry.wait_for_events(3)
    assert all(e["tags"]["schema"] == committed_store.schema_name for e in events)
    assert all(e["tags"].get("request_id") for e in events)
    assert {e["exception"]["values"][-1]["type"] for e in events} == {"Purchase.DoesNotExist"}
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    raised = [line for line in lines if "raised unexpected" in line["message"]]
    assert len(raised) == 3 and all(
        line["schema"] == committed_store.schema_name for line in raised
    )
