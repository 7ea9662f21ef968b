"""Migration time for every store schema at N stores: a no-op run and one new migration.

    python -m bench.migrations [--stores 1000]

Builds N stores in a database of its own, then times `migrate_schemas --tenant` with
nothing to do, and with one new tenant migration (an index on catalog_product.title,
written to catalog/migrations/ for the run and removed afterwards), with the standard
and the multiprocessing executors.
"""

from __future__ import annotations

import argparse
import time

from bench.common import ROOT, bench_database_url, database_recreate, django_setup

PROBE = ROOT / "catalog" / "migrations" / "9999_bench_probe.py"
PROBE_TEMPLATE = """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "{latest}")]
    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS bench_probe_{n} ON catalog_product (title)",
            "DROP INDEX IF EXISTS bench_probe_{n}",
        )
    ]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stores", type=int, default=1000)
    args = parser.parse_args()
    url = bench_database_url()
    database_recreate(url)
    django_setup(url)
    from django.core.management import call_command
    from django.db import connection

    from sellers.models import User
    from tenants.services import store_create

    call_command("migrate_platform", verbosity=0)
    owner = User.objects.create_user("bench@example.com", "bench-password-123")
    t0 = time.monotonic()
    for i in range(args.stores):
        store_create(owner=owner, name=f"Store {i}", subdomain=f"store-{i:05d}")
    print(f"{args.stores} stores created in {time.monotonic() - t0:.1f}s")

    def timed(label: str, **options) -> None:
        connection.close()
        started = time.monotonic()
        call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0, **options)
        elapsed = time.monotonic() - started
        print(f"{label:<44} {elapsed:7.1f}s  {elapsed / args.stores:.3f}s per store", flush=True)

    timed("no-op, standard executor")
    timed("no-op, multiprocessing executor", executor="multiprocessing")
    latest = sorted(p.stem for p in (ROOT / "catalog" / "migrations").glob("0*.py"))[-1]
    try:
        PROBE.write_text(PROBE_TEMPLATE.format(latest=latest, n=1))
        timed("one new migration, standard executor")
        # Unapply it everywhere, then time applying it again with the parallel executor.
        call_command(
            "migrate_schemas", "catalog", latest, tenant=True, interactive=False, verbosity=0
        )
        timed("one new migration, multiprocessing executor", executor="multiprocessing")
    finally:
        PROBE.unlink(missing_ok=True)
        for cache in (ROOT / "catalog" / "migrations" / "__pycache__").glob("9999_bench_probe*"):
            cache.unlink()


if __name__ == "__main__":
    main()
