"""Deploy time at N stores: `migrate_platform` with nothing to do, and with one new migration,
against django-tenants' stock `migrate_schemas` measured in the same run.

    python -m bench.migrations [--stores 10000] [--stock-stores 500] [--workers 4]

Builds N stores in a database of its own. Store rows and domains are bulk-inserted and the
schemas are the recorded template DDL replayed over a few connections (what sign-up does,
without the per-request overhead), so 10,000 stores take minutes, not hours. Then it times,
each as its own `manage.py` process (start-up included, as on a deploy):

- `migrate_platform` with nothing to do (every store at the head);
- stock `migrate_schemas --tenant`, no-op: over every store when N <= --stock-stores,
  otherwise over the first --stock-stores stores only (said so in the output: a measured
  subset, with the per-store cost; it is not extrapolated);
- one new tenant migration (an index on catalog_product.title, written to
  catalog/migrations/ for the run and removed afterwards) with `migrate_platform`;
- a second new migration with stock `migrate_schemas --tenant --executor multiprocessing`
  (2 processes), over the same stores as the stock no-op.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import subprocess
import sys
import threading
import time

from bench.common import ROOT, bench_database_url, database_recreate, django_setup

PROBES = ROOT / "catalog" / "migrations"
PROBE_TEMPLATE = """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "{latest}")]
    operations = [
        migrations.RunSQL(
            "CREATE INDEX bench_probe_{n} ON catalog_product (title)",
            "DROP INDEX bench_probe_{n}",
        )
    ]
"""
# Runs stock migrate_schemas over the first K stores only (bench/migrations.py --stock-stores).
STOCK_SUBSET = """
import os, sys
sys.path.insert(0, {root!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from django.core.management import call_command
from django_tenants.management.commands import migrate_schemas
from tenants.models import Store

names = list(Store.objects.stores().order_by("pk").values_list("schema_name", flat=True)[:{k}])


class Subset:
    objects = None

    def only(self, *a):
        return self

    def exclude(self, **k):
        return self

    def order_by(self, *a):
        return self

    def values_list(self, *a, **k):
        return list(names)


Subset.objects = Subset()
migrate_schemas.get_tenant_model = lambda: Subset
call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0, executor={executor!r})
"""


def stores_bulk_create(
    count: int, workers: int, *, extra_sql: str = "", progress_every: float = 5
) -> float:
    """Store rows, domains and schemas for `count` stores; returns seconds. `extra_sql`
    runs in each new schema after its DDL (bench.density fills the catalogs with it)."""
    import psycopg2
    from django.conf import settings
    from django.db import connection

    from sellers.models import User
    from tenants.models import Domain, Store, new_schema_name
    from tenants.provisioning import blueprint_latest
    from tenants.schema_state import mark_sql, quote

    started = time.monotonic()
    owner = User.objects.create_user("bench@example.com", "bench-password-123")
    stores = [
        Store(owner=owner, name=f"Store {i}", subdomain=f"store-{i:05d}") for i in range(count)
    ]
    for store in stores:
        store.schema_name = new_schema_name()
    Store.objects.bulk_create(stores, batch_size=2000)
    Domain.objects.bulk_create(
        [
            Domain(domain=f"{s.subdomain}.{settings.PLATFORM_DOMAIN}", tenant=s, is_primary=True)
            for s in stores
        ],
        batch_size=2000,
    )
    ddl = ";\n".join(blueprint_latest().statements)
    jobs: queue.Queue = queue.Queue()
    for store in stores:
        jobs.put(store.schema_name)
    params = connection.get_connection_params()
    done = [0]

    def work() -> None:
        conn = psycopg2.connect(**params)
        with conn.cursor() as cursor:
            while True:
                try:
                    schema = jobs.get_nowait()
                except queue.Empty:
                    break
                cursor.execute(
                    f"CREATE SCHEMA {quote(schema)}; SET LOCAL search_path TO {quote(schema)};\n"
                    f"{ddl};\n{mark_sql(schema)}" + (f";\n{extra_sql}" if extra_sql else "")
                )
                conn.commit()
                done[0] += 1
        conn.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        time.sleep(progress_every)
        print(f"  {done[0]}/{count} store schemas built", flush=True)
    return time.monotonic() - started


def run(label: str, argv: list[str], stores: int, *, show: str = "") -> float:
    started = time.monotonic()
    out = subprocess.run(
        argv, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, check=False
    )
    elapsed = time.monotonic() - started
    if out.returncode:
        print(out.stdout[-2000:], out.stderr[-4000:])
        raise SystemExit(f"{label}: exit {out.returncode}")
    print(f"{label:<62} {elapsed:8.2f}s  {elapsed / stores * 1000:7.2f} ms per store", flush=True)
    if show:
        for line in out.stdout.splitlines():
            if re.search(show, line):
                print(f"    {line.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stores", type=int, default=10_000)
    parser.add_argument("--stock-stores", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    url = bench_database_url()
    database_recreate(url)
    django_setup(url)
    from django.core.management import call_command

    call_command("migrate_platform", verbosity=0)
    seconds = stores_bulk_create(args.stores, args.workers)
    print(f"{args.stores} stores built in {seconds:.1f}s (bulk rows + recorded DDL replayed)")

    manage = [sys.executable, "manage.py"]
    stock_k = min(args.stores, args.stock_stores)
    subset = "" if stock_k == args.stores else f" [first {stock_k} of {args.stores} stores]"

    def stock(executor: str) -> list[str]:
        return [
            sys.executable,
            "-c",
            STOCK_SUBSET.format(root=str(ROOT), k=stock_k, executor=executor),
        ]

    figures = {}
    figures["ours_noop"] = run(
        "no-op: migrate_platform",
        [*manage, "migrate_platform", "-v0"],
        args.stores,
        show="Platform migrated",
    )
    figures["stock_noop"] = run(
        f"no-op: stock migrate_schemas, standard{subset}", stock("standard"), stock_k
    )
    latest = sorted(p.stem for p in PROBES.glob("0*.py"))[-1]
    probes = [PROBES / "9998_bench_probe.py", PROBES / "9999_bench_probe.py"]
    try:
        probes[0].write_text(PROBE_TEMPLATE.format(latest=latest, n=1))
        figures["ours_one"] = run(
            "one new migration: migrate_platform",
            [*manage, "migrate_platform", "-v1", f"--workers={args.workers}"],
            args.stores,
            show=r"Platform migrated|stores migrated \(100",
        )
        figures["ours_noop_after"] = run(
            "no-op again: migrate_platform", [*manage, "migrate_platform", "-v0"], args.stores
        )
        probes[1].write_text(PROBE_TEMPLATE.format(latest="9998_bench_probe", n=2))
        figures["stock_one"] = run(
            f"one new migration: stock migrate_schemas, multiprocessing{subset}",
            stock("multiprocessing"),
            stock_k,
        )
    finally:
        for probe in probes:
            probe.unlink(missing_ok=True)
        for cache in (PROBES / "__pycache__").glob("999*_bench_probe*"):
            cache.unlink()
    per = {k: v / (stock_k if k.startswith("stock") else args.stores) for k, v in figures.items()}
    print(
        f"per store: no-op {per['ours_noop'] * 1000:.2f} ms vs stock {per['stock_noop'] * 1000:.1f} ms "
        f"({per['stock_noop'] / per['ours_noop']:.0f}x); one migration {per['ours_one'] * 1000:.2f} ms "
        f"vs stock {per['stock_one'] * 1000:.1f} ms ({per['stock_one'] / per['ours_one']:.0f}x)"
    )


if __name__ == "__main__":
    main()
