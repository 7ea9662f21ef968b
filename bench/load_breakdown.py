"""Where bench.load's time goes, one request type at a time.

    python -m bench.load_breakdown [--users 100] [--seconds 15] [--kinds storefront,product,...]

The same stores, server shape (gunicorn 4 workers x 4 threads) and plan lines as
bench.load, but each kind of request (storefront, product page, checkout, download, and
the one-query page of the baseline) is replayed alone. For each: requests/s, p95, and the
CPU time per request of every process that serves it: gunicorn and its workers, the
Stripe stand-in, PostgreSQL's backends, Redis (when it is a local process we can see).
CPU per request is the figure to compare on a shared machine; requests/s follow whoever
else is busy. Then the queries per request of each kind, counted in this process with
Django's test client (CSRF not enforced there; the servers above enforce it).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import (
    ROOT,
    bench_database_url,
    database_recreate,
    django_setup,
    gunicorn,
    server_cpu_seconds,
)
from bench.load import bench_env, plan_lines, standin_start, stores_build

KINDS = ("storefront", "product", "checkout", "download")


def _pids_listening(port: int) -> list[int]:
    import psutil

    found = []
    for conn in psutil.net_connections("tcp"):
        if conn.status == "LISTEN" and conn.laddr.port == port and conn.pid:
            found.append(conn.pid)
    return found


def _postgres_cpu(url: str) -> float:
    """CPU of the PostgreSQL server holding the bench database (its postmaster and every
    backend), 0 when it is not a process on this machine we can read."""
    from urllib.parse import urlsplit

    pids = _pids_listening(urlsplit(url).port or 5432)
    return sum(_tree_cpu(pid) for pid in pids[:1])


def _tree_cpu(pid: int) -> float:
    import psutil

    total = 0.0
    try:
        parent = psutil.Process(pid)
        for p in [parent, *parent.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total


def _wrk_plan(port: int, plan: list[str], users: int, seconds: int) -> dict:
    plan_file = Path(tempfile.mkstemp(suffix=".tsv")[1])
    plan_file.write_text("\n".join(plan) + "\n")
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(users),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "load.lua"),
            f"http://127.0.0.1:{port}/",
            "--",
            str(plan_file),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    plan_file.unlink()
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p95": float(re.search(r"p95_ms=([\d.]+)", out).group(1)),
        "errors": (
            int(non_ok.group(1)) if non_ok else 0,
            re.search(r"LOAD errors (.*)", out).group(1),
        ),
    }


class Meter:
    """CPU seconds of the servers taking part, read before and after a run."""

    def __init__(self, *, web, standin, db_url: str, redis_port: int | None) -> None:
        self.web, self.standin, self.db_url = web, standin, db_url
        self.redis_pids = _pids_listening(redis_port) if redis_port else []

    def read(self) -> dict[str, float]:
        return {
            "gunicorn": server_cpu_seconds(self.web),
            "stand-in": server_cpu_seconds(self.standin),
            "postgres": _postgres_cpu(self.db_url),
            "redis": sum(_tree_cpu(p) for p in self.redis_pids),
        }


def _measure(
    meter: Meter, port: int, plan: list[str], users: int, seconds: int, pyspy: str = ""
) -> dict:
    """One kind's run; with `pyspy` (an output path), py-spy samples every worker meanwhile
    (collapsed stacks, `py-spy` from PyPI in the venv; not a dependency of the project)."""
    spy = None
    if pyspy:
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--subprocesses",
                "--nonblocking",
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                pyspy,
                "-p",
                str(meter.web.pid),
                "-d",
                str(seconds),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    before = meter.read()
    result = _wrk_plan(port, plan, users, seconds)
    after = meter.read()
    if spy is not None:
        spy.wait(timeout=60)
    result["cpu_ms"] = {
        k: 1000 * (after[k] - before[k]) / max(result["requests"], 1) for k in before
    }
    return result


def _print(kind: str, r: dict) -> None:
    cpu = r["cpu_ms"]
    parts = " ".join(f"{k} {v:.2f}" for k, v in cpu.items())
    print(
        f"{kind:<11} {r['rps']:7.0f} req/s  p95 {r['p95']:7.1f} ms  "
        f"CPU ms/request: total {sum(cpu.values()):.2f} ({parts})  "
        f"non-2xx {r['errors'][0]} {r['errors'][1]}",
        flush=True,
    )


def _queries(stores: list[tuple]) -> dict[str, int]:
    """Queries per request of each kind, warm (second request of each), in-process."""
    import uuid

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    store, products, tokens = stores[0]
    client = Client(HTTP_HOST=store.host)
    product = products[0]
    requests = {
        "storefront": lambda: client.get("/"),
        "product": lambda: client.get(f"/p/{product.slug}/"),
        "checkout": lambda: client.post(
            f"/buy/{product.slug}/", {"attempt": uuid.uuid4().hex}, HTTP_REFERER="http://x/"
        ),
        "download": lambda: client.get(f"/d/{tokens[0]}/"),
    }
    counts = {}
    for kind, call in requests.items():
        call()
        with CaptureQueriesContext(connection) as ctx:
            response = call()
        counts[kind] = (len(ctx), response.status_code, [q["sql"][:90] for q in ctx])
    return counts


def _inprocess(stores: list[tuple], count: int, profile: str) -> None:
    """CPU time per request of each kind served in this process (one thread, Django's
    test client with CSRF enforced, the servers' settings): independent of the other
    processes on the machine. With `profile`, cProfile's top functions per kind."""
    import cProfile
    import pstats
    import time
    import uuid

    from django.test import Client

    store, products, tokens = stores[0]
    product = products[0]
    client = Client(HTTP_HOST=store.host, enforce_csrf_checks=True)
    page = client.get(f"/p/{product.slug}/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    # Like wrk: the cookie and token fetched once, then only sent.
    cookie = page.cookies["csrftoken"].value
    anonymous = Client(HTTP_HOST=store.host)  # one handler: middleware loads once

    def fresh(client: Client) -> Client:
        client.cookies.clear()  # each request as a new visitor, as wrk sends them
        return client

    def buy():
        client = fresh(anonymous)
        client.cookies["csrftoken"] = cookie
        return client.post(
            f"/buy/{product.slug}/",
            {"csrfmiddlewaretoken": token, "attempt": uuid.uuid4().hex},
            HTTP_REFERER=f"http://{store.host}/",
        )

    anonymous.handler.enforce_csrf_checks = True
    requests = {
        "storefront": lambda: fresh(anonymous).get("/"),
        "product": lambda: fresh(anonymous).get(f"/p/{product.slug}/"),
        "checkout": buy,
        "download": lambda: fresh(anonymous).get(f"/d/{tokens[0]}/"),
    }
    for kind, call in requests.items():
        for _ in range(5):
            response = call()
            assert response.status_code in (200, 302), (kind, response.status_code)
        profiler = cProfile.Profile(time.process_time) if profile else None
        start = time.process_time()
        if profiler:
            profiler.enable()
        for _ in range(count):
            call()
        if profiler:
            profiler.disable()
        cpu = (time.process_time() - start) * 1000 / count
        print(f"in-process CPU per {kind}: {cpu:.2f} ms ({count} requests)", flush=True)
        if profiler:
            stats = pstats.Stats(profiler)
            stats.dump_stats(f"{profile}/{kind}.prof")


def _compare(args, stores, env, standin, url, redis_port, kinds) -> None:
    """This tree and `args.against`, each on its own gunicorn of the same shape, measured
    alternately (the order flips every round) kind by kind: CPU per request side by side."""
    import statistics
    from contextlib import ExitStack

    from tests.live import free_port

    trees = {"this": ROOT, "other": Path(args.against).resolve()}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=trees["other"],
        env={**__import__("os").environ, **env},
        check=True,
    )
    results: dict[tuple[str, str], list[dict]] = {}
    with ExitStack() as stack:
        servers = {}
        for name, tree in trees.items():
            port = free_port()
            web = stack.enter_context(
                gunicorn(
                    "config.wsgi:application",
                    port,
                    env,
                    workers=args.workers,
                    threads=args.threads,
                    cwd=tree,
                )
            )
            servers[name] = (
                port,
                Meter(web=web, standin=standin, db_url=url, redis_port=redis_port),
            )
        plans = {}
        for name, (port, _) in servers.items():
            _wrk_plan(port, plan_lines(stores, port), args.users, 3)  # warm up
            plans[name] = {
                kind: plan_lines(stores, port, kinds=KINDS if kind == "mix" else (kind,))
                for kind in kinds
                if kind in KINDS or kind == "mix"
            }
        for round_ in range(args.rounds):
            order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
            for kind in plans["this"]:
                for name in order:
                    port, meter = servers[name]
                    r = _measure(meter, port, plans[name][kind], args.users, args.seconds)
                    results.setdefault((kind, name), []).append(r)
                    _print(f"{kind}/{name}", r)
    print("median over rounds, CPU ms per request (all servers / gunicorn only):")
    for kind in plans["this"]:
        row = []
        for name in trees:
            runs = results[(kind, name)]
            total = statistics.median(sum(r["cpu_ms"].values()) for r in runs)
            web = statistics.median(r["cpu_ms"]["gunicorn"] for r in runs)
            rps = statistics.median(r["rps"] for r in runs)
            row.append((total, web, rps))
        (t1, w1, r1), (t2, w2, r2) = row
        print(
            f"{kind:<11} this {t1:6.2f} / {w1:6.2f} ({r1:.0f} req/s)   other {t2:6.2f} / {w2:6.2f} "
            f"({r2:.0f} req/s)   this/other {t1 / t2:.2f} / {w1 / w2:.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--stores", type=int, default=5)
    # The server shape, for the load and its one-query baseline alike.
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--kinds", default=",".join((*KINDS, "one-query", "mix")))
    parser.add_argument("--sql", action="store_true", help="print each kind's queries")
    parser.add_argument("--inprocess", type=int, default=0, help="requests per kind in-process")
    parser.add_argument("--profile", default="", help="a folder for cProfile's stats per kind")
    parser.add_argument(
        "--against",
        default="",
        help="another checkout of the project (e.g. `git archive main | tar -x -C DIR`): "
        "its server is measured too, alternately with this one, kind by kind",
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pyspy", default="", help="a folder for py-spy's samples per kind")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    sys.path.insert(0, str(ROOT))
    from urllib.parse import urlsplit

    from tests.live import free_port, wait_for_port

    stripe_port, web_port = free_port(), free_port()
    url = bench_database_url()
    database_recreate(url)
    env = bench_env(stripe_port)
    redis_port = urlsplit(env["REDIS_URL"]).port if env.get("REDIS_URL") else None
    standin = standin_start(stripe_port)
    try:
        wait_for_port(stripe_port)
        django_setup(url, **env)
        from django.core.management import call_command

        from tests.payments.conftest import Standin

        call_command("migrate_platform", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        stores = stores_build(args.stores, Standin(f"http://127.0.0.1:{stripe_port}"))
        if args.inprocess:
            _inprocess(stores, args.inprocess, args.profile)
        if args.against:
            _compare(args, stores, env, standin, url, redis_port, kinds)
            return
        with gunicorn(
            "config.wsgi:application", web_port, env, workers=args.workers, threads=args.threads
        ) as web:
            meter = Meter(web=web, standin=standin, db_url=url, redis_port=redis_port)
            _wrk_plan(web_port, plan_lines(stores, web_port), args.users, 3)  # warm up
            for kind in kinds:
                if kind in KINDS or kind == "mix":
                    only = KINDS if kind == "mix" else (kind,)
                    plan = plan_lines(stores, web_port, kinds=only)
                    spy = f"{args.pyspy}/{kind}.txt" if args.pyspy else ""
                    _print(kind, _measure(meter, web_port, plan, args.users, args.seconds, spy))
        if "one-query" in kinds:
            with gunicorn(
                "bench.plain_wsgi:application",
                web_port,
                {**env, "BENCH_STORE": stores[0][0].subdomain},
                workers=args.workers,
                threads=args.threads,
            ) as web:
                meter = Meter(web=web, standin=standin, db_url=url, redis_port=redis_port)
                plan = [f"GET\t{stores[0][0].host}\t/one-query/\t\t"]
                _wrk_plan(web_port, plan, args.users, 3)
                spy = f"{args.pyspy}/one-query.txt" if args.pyspy else ""
                _print("one-query", _measure(meter, web_port, plan, args.users, args.seconds, spy))
        for kind, (count, status, sql) in _queries(stores).items():
            print(f"queries per {kind}: {count} (HTTP {status})")
            if args.sql:
                for line in sql:
                    print(f"    {line}")
    finally:
        standin.terminate()
        standin.wait(timeout=10)


if __name__ == "__main__":
    main()
