"""Shared plumbing for the benchmarks: a database of their own, servers, load."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# BENCH_DATABASE names another (bench.density --compare-only keeps two side by side).
BENCH_DB = os.environ.get("BENCH_DATABASE", "bench_product_purchase")


def bench_database_url() -> str:
    """The developer's server (or the private one `make run` starts), a database of our own."""
    base = os.environ.get("DATABASE_URL")
    if not base:
        sys.path.insert(0, str(ROOT))
        from devtools.devstack import RUN, postgres_start

        base = postgres_start(RUN / "pg") + "/postgres"
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def database_recreate(url: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [BENCH_DB]
        )
        cur.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
        cur.execute(f'CREATE DATABASE "{BENCH_DB}"')
    conn.close()


def django_setup(database_url: str, **env: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "False")
    os.environ.setdefault("DJANGO_TESTING", "1")  # dev secrets are fine for a bench
    for key, value in env.items():
        os.environ[key] = value
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@contextmanager
def gunicorn(
    app: str, port: int, env: dict[str, str], workers: int = 2, threads: int = 1, cwd: Path = ROOT
):
    """A gunicorn serving `app` on loopback, yielded once every worker has loaded it
    (bench/gunicorn_ready.py)."""
    import tempfile

    ready = Path(tempfile.mkdtemp(prefix="bench-gunicorn-ready-"))
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        "-c",
        str(ROOT / "bench" / "gunicorn_ready.py"),
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        "--worker-tmp-dir",
        "/dev/shm",
    ]
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env, "BENCH_READY_DIR": str(ready)})
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list(ready.iterdir())) >= workers:
                break
            time.sleep(0.1)
        else:
            raise SystemExit(f"gunicorn {app}: its workers did not start (port {port} taken?)")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                raise SystemExit(f"gunicorn {app}: nothing listens on {port}")
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(ready, ignore_errors=True)


def prime(url: str, host: str, *, times: int = 4) -> None:
    """A few requests one after another, so no measured request pays for the first imports
    and connections (on a busy machine the first page can take seconds)."""
    import urllib.request

    for _ in range(times):
        request = urllib.request.Request(url, headers={"Host": host})
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()


def wrk(url: str, host: str, *, seconds: int = 10, connections: int = 16, threads: int = 2) -> dict:
    """Requests/s and latency from wrk (Debian package); bounded in time, loopback only."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "latency.lua"),
            "-H",
            f"Host: {host}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    p95 = re.search(r"LATENCY .*p95_ms=([\d.]+)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}
    return {
        "rps": rps,
        "requests": total,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else None,
        "p95_ms": float(p95.group(1)) if p95 else None,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def production_like_env(**overrides: str) -> dict[str, str]:
    """Settings as in production (DEBUG off, real secrets required), on loopback, no TLS."""
    env = {
        "DJANGO_DEBUG": "False",
        "DJANGO_TESTING": "0",
        "DJANGO_SECRET_KEY": "bench-secret-key-" + "x" * 40,
        "DJANGO_SECURE_SSL_REDIRECT": "False",
        "DJANGO_SESSION_COOKIE_SECURE": "False",
        "DJANGO_EMAIL_URL": "consolemail://",
        "STRIPE_SECRET_KEY": "sk_test_bench",
        "STRIPE_WEBHOOK_SECRET": "whsec_bench",
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "PLATFORM_DOMAIN": "localhost",
        "PLATFORM_SCHEME": "http",
        "DJANGO_LOG_LEVEL": "WARNING",
        "REDIS_URL": redis_url(),
        "DJANGO_CONN_MAX_AGE": "600",
    }
    env.update(overrides)
    return env


def redis_url() -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", 6379)) == 0:
            return "redis://127.0.0.1:6379/14"
    return ""


def metrics_modes(choice: str) -> list[str]:
    """--metrics on|off|compare → the modes to measure, alternately, in one run."""
    return ["on", "off"] if choice == "compare" else [choice]


def metrics_env(mode: str) -> dict[str, str]:
    """Metrics as production runs them (prometheus_client's multiprocess files, one fresh
    directory per server, as gunicorn.conf.py makes), or switched off (DJANGO_METRICS=off:
    no request middleware, no counting)."""
    if mode == "off":
        return {"DJANGO_METRICS": "off"}
    import tempfile

    return {
        "DJANGO_METRICS": "on",
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(
            prefix="bench-metrics-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
        ),
    }


def server_cpu_seconds(proc) -> float:
    """CPU time (user + system) used so far by a server and its workers. On a shared machine
    requests/s follow whoever else is busy; CPU per request follows only our code."""
    import psutil

    total = 0.0
    try:
        parent = psutil.Process(proc.pid)
        for p in [parent, *parent.children(recursive=True)]:
            times = p.cpu_times()
            total += times.user + times.system
    except psutil.NoSuchProcess:
        pass
    return total
