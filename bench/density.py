"""How many stores one database (one cell) holds: catalog size, backend memory and the
storefront's latency at N stores, against a handful of stores in the same run.

    python -m bench.density [--stores 5000] [--few 5] [--touch 1000] [--seconds 20]

1. A database of its own with `--few` stores made by sign-up's path (store_create), each
   with 12 published products. wrk renders their live storefront (`/?live`, past the page
   cache, so every request reads the store's schema) for --seconds: p50/p95/p99 at a
   handful of stores.
2. The other stores, up to --stores, the fast way bench.migrations builds them (bulk rows,
   the recorded template DDL replayed over 4 connections), each given the same 12 products.
3. The catalog: `pg_class` rows, the size on disk of pg_catalog's tables and of the whole
   database.
4. One connection, as a web worker's: Django's test client renders the live storefront of
   --touch different stores one after another on it; the memory of its server process
   (PostgreSQL's own accounting in pg_backend_memory_contexts, and RSS / Pss / anonymous
   memory from /proc) after 1, 100 and --touch stores.
5. wrk again on the live storefront: over the same --few stores (now among --stores), and
   over --touch stores (each request another store, so every worker's connection ends up
   holding the catalog entries of all of them); the memory of the server's backends after it.

Loopback only; gunicorn 2 sync workers, connections kept (CONN_MAX_AGE 600) as in
production; Redis for the caches when available.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    ROOT,
    bench_database_url,
    database_recreate,
    django_setup,
    gunicorn,
    production_like_env,
    redis_url,
)
from bench.tenancy_overhead import ready

PRODUCTS = 12


def wrk_plan(port: int, hosts: list[str], path: str, *, seconds: int, connections: int) -> dict:
    """wrk over `hosts` (one plan line each, shuffled), with p50/p95/p99 from load.lua."""
    lines = [f"GET\t{host}\t{path}\t\t" for host in hosts]
    random.Random(3).shuffle(lines)
    plan = Path(tempfile.mkstemp(suffix=".tsv")[1])
    plan.write_text("\n".join(lines) + "\n")
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t",
                "2",
                "-c",
                str(connections),
                "-d",
                f"{seconds}s",
                "--timeout",
                "10s",
                "-s",
                str(ROOT / "bench" / "load.lua"),
                f"http://127.0.0.1:{port}/",
                "--",
                str(plan),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        plan.unlink()
    lat = {k: float(v) for k, v in re.findall(r"(p\d+|max)_ms=([\d.]+)", out)}
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non_2xx": int(non_ok.group(1)) if non_ok else 0,
        "errors": re.search(r"LOAD errors (.*)", out).group(1),
        **lat,
    }


def show(label: str, r: dict) -> None:
    print(
        f"{label:<52} {r['rps']:7.1f} req/s  p50 {r['p50']:6.1f}  p95 {r['p95']:6.1f}  "
        f"p99 {r['p99']:6.1f} ms  ({r['requests']} requests, non-2xx {r['non_2xx']})",
        flush=True,
    )


def proc_memory(pid: int) -> dict[str, float]:
    """MiB: RSS (with the shared buffers it touched), Pss, and its own (anonymous) memory."""
    found = {"rss": 0.0, "pss": 0.0, "private": 0.0}
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        found["rss"] = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        kb = {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+) kB", rollup, re.M)}
        found["pss"] = kb.get("Pss", 0) / 1024
        # The process's own heap: shared buffers it alone touched count as "Private" too.
        found["private"] = kb.get("Anonymous", 0) / 1024
    except (OSError, AttributeError):
        pass
    return found


def own_backend_memory(cursor) -> dict[str, float]:
    """MiB, this connection's server process: every memory context, CacheMemoryContext
    (relation and catalog caches) with its children, and /proc."""
    cursor.execute(
        "SELECT sum(total_bytes), sum(total_bytes) FILTER (WHERE name = 'CacheMemoryContext' "
        "OR parent = 'CacheMemoryContext'), pg_backend_pid() FROM pg_backend_memory_contexts"
    )
    total, cache, pid = cursor.fetchone()
    return {"contexts": total / 2**20, "cache": (cache or 0) / 2**20, **proc_memory(pid)}


def show_memory(label: str, m: dict[str, float]) -> None:
    print(
        f"{label:<44} contexts {m['contexts']:7.1f} MiB (cache {m['cache']:6.1f})  "
        f"RSS {m['rss']:7.1f}  Pss {m['pss']:7.1f}  own {m['private']:7.1f} MiB",
        flush=True,
    )


def private_redis() -> str:
    """A Redis of this run's own: the stores here are named like other benchmarks' (and
    the routing and page caches are keyed by host), so a shared Redis could answer with
    another run's store rows. Stopped when the run ends."""
    import atexit
    import shutil

    from tests.live import free_port, wait_for_port

    server = shutil.which("redis-server")
    if not server:
        return ""
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    atexit.register(proc.terminate)
    wait_for_port(port)
    return f"redis://127.0.0.1:{port}/0"


FEW_DB = "bench_density_few"


def compare_only(args) -> None:
    """The storefront at N stores and at a handful, in alternating rounds of one run.

    A full run leaves its database (N stores). The --few stores are built again, the same
    way, in a database of their own (pg_dump -n of those schemas out of the big one ran
    for more than 7 minutes at 5,000 stores: its dependency queries read all of pg_depend,
    so it was given up). Two gunicorn servers (one per database) run side by side, and wrk
    alternates between them round after round, so a busy machine weighs on both alike.
    """
    from urllib.parse import urlsplit, urlunsplit

    import psycopg2

    from tests.live import free_port

    url = bench_database_url()
    parts = urlsplit(url)
    few_url = urlunsplit(parts._replace(path=f"/{FEW_DB}"))
    # The handful in a database of its own, built the same way (sign-up's path, the same
    # 12 products), by this script in another process.
    subprocess.run(
        [
            *(sys.executable, "-m", "bench.density", "--build-only"),
            *("--stores", str(args.few), "--few", str(args.few)),
        ],
        cwd=ROOT,
        env={**os.environ, "BENCH_DATABASE": FEW_DB},
        check=True,
    )
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM tenants_store WHERE schema_name <> 'public'")
        stores = cur.fetchone()[0]
        cur.execute(
            "SELECT subdomain FROM tenants_store WHERE subdomain LIKE 'store-%%' ORDER BY random() "
            "LIMIT %s",
            [args.touch],
        )
        spread = [f"{r[0]}.localhost" for r in cur.fetchall()]
    conn.close()
    conn = psycopg2.connect(few_url)
    with conn.cursor() as cur:
        cur.execute("SELECT subdomain FROM tenants_store WHERE subdomain LIKE 'few-%%'")
        few = [(None, r[0]) for r in cur.fetchall()]
        cur.execute("SELECT count(*) FROM pg_class")
        few_classes = cur.fetchone()[0]
    conn.close()
    print(f"copy with {len(few)} stores: {few_classes} pg_class rows")
    redis_dense, redis_few = private_redis(), private_redis()
    few_hosts = [f"{sub}.localhost" for _, sub in few]
    servers = {
        "dense": (free_port(), production_like_env(REDIS_URL=redis_dense, DATABASE_URL=url)),
        "few": (free_port(), production_like_env(REDIS_URL=redis_few, DATABASE_URL=few_url)),
    }
    cases = [
        (f"{len(few)} stores of {len(few)}", "few", few_hosts),
        (f"{len(few)} stores of {stores}", "dense", few_hosts),
        (f"{len(spread)} stores of {stores}", "dense", spread),
    ]
    results: dict[str, list[dict]] = {label: [] for label, _, _ in cases}
    with (
        gunicorn("config.wsgi:application", servers["dense"][0], servers["dense"][1], workers=2),
        gunicorn("config.wsgi:application", servers["few"][0], servers["few"][1], workers=2),
    ):
        for port, _ in servers.values():
            ready(port, few_hosts[0], "/?live", timeout=300)
            wrk_plan(port, few_hosts, "/?live", seconds=3, connections=4)
        for rnd in range(args.compare_only):
            for label, name, hosts in cases:
                r = wrk_plan(
                    servers[name][0],
                    hosts,
                    "/?live",
                    seconds=args.seconds,
                    connections=args.connections,
                )
                show(f"round {rnd + 1}: live storefront, {label}", r)
                results[label].append(r)
    base = results[cases[0][0]]
    for label, rows in results.items():
        p95 = sorted(r["p95"] for r in rows)[len(rows) // 2]
        ratios = [r["p95"] / b["p95"] for r, b in zip(rows, base, strict=True)]
        rps = [r["rps"] / b["rps"] for r, b in zip(rows, base, strict=True)]
        print(
            f"{label:<28} median p95 {p95:7.1f} ms; per round p95 ratio "
            f"{', '.join(f'{x:.2f}' for x in ratios)}; req/s ratio {', '.join(f'{x:.2f}' for x in rps)}"
        )
    if any(r["non_2xx"] for rows in results.values() for r in rows):
        raise SystemExit("non-2xx responses")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stores", type=int, default=5000)
    parser.add_argument("--few", type=int, default=5)
    parser.add_argument("--touch", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--build-only", action="store_true", help="build the stores and stop")
    parser.add_argument(
        "--compare-only",
        type=int,
        metavar="ROUNDS",
        help="reuse the database a full run left (N stores) and measure the storefront in "
        "alternating rounds against a copy holding only its --few stores",
    )
    args = parser.parse_args()
    if args.build_only:
        args.seconds = 0
    if args.compare_only:
        compare_only(args)
        return
    started = time.monotonic()
    url = bench_database_url()
    database_recreate(url)
    redis = private_redis()
    env = production_like_env(REDIS_URL=redis or redis_url())
    django_setup(url, **env)
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_tenants.utils import schema_context

    from bench.migrations import stores_bulk_create
    from catalog.models import Product
    from sellers.models import User
    from tenants.models import Store
    from tenants.services import store_create
    from tests.live import free_port

    call_command("migrate_platform", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    owner = User.objects.create_user("density@example.com", "bench-password-123")
    few = []
    for i in range(args.few):
        store = store_create(owner=owner, name=f"Few {i}", subdomain=f"few-{i}")
        with schema_context(store.schema_name), CaptureQueriesContext(connection) as made:
            for j in range(PRODUCTS):
                Product.objects.create(
                    title=f"Guide {j}", slug=f"guide-{j}", price=900 + j, status="published"
                )
        few.append(store)
    # The same products in every bulk-built store: the INSERTs as PostgreSQL received them
    # (unqualified table names, so they land in the schema on the path).
    product_sql = ";\n".join(
        q["sql"] for q in made.captured_queries if q["sql"].startswith("INSERT")
    )
    few_hosts = [s.host for s in few]
    port = free_port()
    cases: dict[str, dict] = {}

    def storefront(label: str, hosts: list[str]) -> None:
        with gunicorn("config.wsgi:application", port, env, workers=2):
            ready(port, hosts[0], "/?live", timeout=300)
            wrk_plan(port, hosts[:50], "/?live", seconds=3, connections=4)  # boot, warm up
            r = wrk_plan(port, hosts, "/?live", seconds=args.seconds, connections=args.connections)
            show(label, r)
            cases[label] = r
            if len(hosts) > len(few_hosts):
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                    )
                    pids = [row[0] for row in cursor.fetchall()]
                for pid in pids:
                    m = proc_memory(pid)
                    print(
                        f"  web backend {pid}: RSS {m['rss']:.1f} MiB, Pss {m['pss']:.1f} MiB, "
                        f"own {m['private']:.1f} MiB"
                    )

    if not args.build_only:
        print(f"== {args.few} stores in the database")
        storefront(f"live storefront, {args.few} stores of {args.few}", few_hosts)

    bulk = args.stores - args.few
    print(f"== building {bulk} more stores")
    seconds = stores_bulk_create(bulk, 4, extra_sql=product_sql, progress_every=30)
    print(f"{bulk} stores built in {seconds:.0f} s")
    vacuum_started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        print(f"VACUUM ANALYZE of the whole database: {time.monotonic() - vacuum_started:.0f} s")
        cursor.execute(
            "SELECT (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_namespace), "
            "(SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'pg_catalog' AND c.relkind = 'r'), "
            "pg_database_size(current_database())"
        )
        classes, schemas, catalog_bytes, db_bytes = cursor.fetchone()
    stores = Store.objects.stores().count()
    print(
        f"catalog at {stores} stores: {classes} pg_class rows ({classes / stores:.1f} per store), "
        f"{schemas} schemas, pg_catalog {catalog_bytes / 2**20:.0f} MiB "
        f"({catalog_bytes / stores / 1024:.1f} kB per store), database {db_bytes / 2**20:.0f} MiB"
    )

    if args.build_only:
        return
    print(f"== one connection rendering {args.touch} stores' storefronts")
    hosts = list(
        Store.objects.stores()
        .exclude(subdomain__startswith="few-")
        .order_by("?")
        .values_list("subdomain", flat=True)[: args.touch]
    )
    hosts = [f"{h}.localhost" for h in hosts]
    connection.close()
    client = Client()
    marks = {1, 100, args.touch}
    memory = {}
    touch_started = time.monotonic()
    for n, host in enumerate(hosts, 1):
        response = client.get("/?live", HTTP_HOST=host)
        if response.status_code != 200 or b"Guide 11" not in response.content:
            raise SystemExit(f"{host}: {response.status_code}")
        if n in marks:
            connection.set_schema_to_public()
            with connection.cursor() as cursor:
                memory[n] = own_backend_memory(cursor)
            show_memory(f"after {n} stores", memory[n])
    touched = time.monotonic() - touch_started
    per_store = (memory[args.touch]["contexts"] - memory[1]["contexts"]) / (args.touch - 1) * 1024
    per_store_private = (
        (memory[args.touch]["private"] - memory[1]["private"]) / (args.touch - 1) * 1024
    )
    print(
        f"backend growth: {per_store:.0f} kB per store touched (contexts), "
        f"{per_store_private:.0f} kB (own anonymous memory); {touched / len(hosts) * 1000:.1f} ms per render"
    )

    print(f"== {stores} stores in the database")
    storefront(f"live storefront, {args.few} stores of {stores}", few_hosts)
    storefront(f"live storefront, {len(hosts)} stores of {stores}", hosts)
    base = cases[f"live storefront, {args.few} stores of {args.few}"]
    for label, r in cases.items():
        print(
            f"{label:<52} p95 {r['p95'] / base['p95']:.2f}x, req/s {r['rps'] / base['rps']:.2f}x of {args.few} of {args.few}"
        )
    print(f"total {time.monotonic() - started:.0f} s")
    if any(r["non_2xx"] for r in cases.values()):
        raise SystemExit("non-2xx responses")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
