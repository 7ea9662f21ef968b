"""The dev stack behind `make run` / `make stop`: ports, stopping, a quiet first start.

The slow test starts a real `make run` in the background on free ports, with its own
state folder and a fresh database on the suite's PostgreSQL, then stops it with
`make stop`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psycopg2
import pytest

from tests import live

ROOT = Path(__file__).resolve().parents[2]

# No proxy from the environment, no redirect following: the test reads Location headers.
_opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({}),
    type(
        "NoRedirect", (urllib.request.HTTPRedirectHandler,), {"redirect_request": lambda *a: None}
    ),
)


def fetch(port: int, path: str, host: str) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def _answers(port: int) -> bool:
    try:
        return fetch(port, "/", f"localhost:{port}")[0] == 200
    except OSError:
        return False


def dev_env(**extra: str) -> dict[str, str]:
    """The environment of a developer's shell: none of the suite's own settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DEVSTACK_", "PLATFORM_", "STRIPE_", "STORE_", "PYTEST"))
        and k not in ("DATABASE_URL", "REDIS_URL", "TEST_REDIS_URL")
    }
    env.update(extra)
    return env


def test_the_web_port_is_the_platform_port_of_everything_run_starts():
    script = (
        "import json, devtools.devstack as d; env = d.run_env({}); "
        "print(json.dumps({'env': env, 'standin': d.standin_command(env)}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=dev_env(DEVSTACK_WEB_PORT="8123", DEVSTACK_STRIPE_PORT="12999"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seen = json.loads(out)
    assert seen["env"]["PLATFORM_PORT"] == "8123"
    assert seen["env"]["STRIPE_API_BASE"] == "http://127.0.0.1:12999"
    standin = seen["standin"]
    assert standin[standin.index("--webhook-url") + 1] == "http://127.0.0.1:8123/stripe/webhook/"
    assert standin[standin.index("--webhook-host") + 1] == "localhost:8123"

    # and the settings the web server gets from that environment
    settings_of = (
        "import json; from config import settings as s; "
        "print(json.dumps([s.PLATFORM_PORT, s.CSRF_TRUSTED_ORIGINS]))"
    )
    port, origins = json.loads(
        subprocess.run(
            [sys.executable, "-c", settings_of],
            cwd=ROOT,
            env=dev_env(**{k: seen["env"][k] for k in ("PLATFORM_PORT", "STRIPE_API_BASE")}),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert port == "8123"
    assert origins == ["http://localhost:8123", "http://*.localhost:8123"]


@pytest.mark.slow
def test_a_background_make_run_serves_its_port_and_make_stop_ends_it(tmp_path):
    web, stripe = live.free_port(), live.free_port()
    base = live.test_database_url().rsplit("/", 1)[0]
    name = f"devstack_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(f"{base}/postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    run_dir = tmp_path / "run"
    env = dev_env(
        DEVSTACK_WEB_PORT=str(web),
        DEVSTACK_STRIPE_PORT=str(stripe),
        DEVSTACK_RUN_DIR=str(run_dir),
        DATABASE_URL=f"{base}/{name}",
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        # As `make run &` does: its own session, no terminal, so no Ctrl-C can reach it.
        run = subprocess.Popen(
            ["make", "-s", "run"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while not _answers(web):
            assert run.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)

        # The demo store is seeded while the web server starts.
        while "Demo ready" not in log.read_text():
            assert run.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)

        # Every URL it prints, links to or redirects to carries the web port.
        _, _, home = fetch(web, "/", f"localhost:{web}")
        assert f'href="http://localhost:{web}/accounts/login/"' in home
        assert ":8000" not in home
        status, headers, _ = fetch(web, "/dashboard/", f"demo.localhost:{web}")
        assert status == 302
        assert headers["Location"].startswith(f"http://localhost:{web}/accounts/handoff/")
        printed = log.read_text()
        assert f"http://localhost:{web}/console/" in printed
        assert f"http://demo.localhost:{web}/dashboard/" in printed

        # The stand-in waited for the web server instead of failing its first deliveries.
        deadline = time.monotonic() + 30
        while "auto -> 200" not in log.read_text():
            assert time.monotonic() < deadline, "no webhook delivered"
            time.sleep(0.3)
        assert "Connection refused" not in log.read_text()
        assert "URLError" not in log.read_text()

        pid = int((run_dir / "devstack.pid").read_text())
        stop = subprocess.run(
            ["make", "-s", "stop"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
        )
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert run.wait(timeout=30) == 0
        assert not (run_dir / "devstack.pid").exists()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        for port in (web, stripe):
            with pytest.raises(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGTERM)
            run.wait(timeout=30)
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
