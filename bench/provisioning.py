"""Seconds per new store as the platform grows.

    python -m bench.provisioning [--stores 1000] [--every 100]

Creates stores the way sign-up does (tenants.services.store_create: store row, schema
cloned from the template, domain) in a database of its own, and prints p50/p95 for each
block of `--every` stores. Also times a full migrate_platform at the end (no-op).
"""

from __future__ import annotations

import argparse
import time

from bench.common import bench_database_url, database_recreate, django_setup, percentile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stores", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100)
    args = parser.parse_args()

    url = bench_database_url()
    database_recreate(url)
    django_setup(url)
    from django.core.management import call_command

    from sellers.models import User
    from tenants.services import store_create

    started = time.monotonic()
    call_command("migrate_platform", verbosity=0)
    print(f"fresh platform migrated in {time.monotonic() - started:.2f}s")
    owner = User.objects.create_user("bench@example.com", "bench-password-123")
    block: list[float] = []
    all_times: list[float] = []
    print(f"{'stores':>7} {'p50 s':>8} {'p95 s':>8} {'max s':>8}")
    for i in range(1, args.stores + 1):
        t0 = time.perf_counter()
        store_create(owner=owner, name=f"Store {i}", subdomain=f"store-{i:05d}")
        elapsed = time.perf_counter() - t0
        block.append(elapsed)
        all_times.append(elapsed)
        if i % args.every == 0:
            print(
                f"{i:>7} {percentile(block, 50):>8.3f} {percentile(block, 95):>8.3f} {max(block):>8.3f}",
                flush=True,
            )
            block = []
    print(
        f"all {len(all_times)} stores: p50 {percentile(all_times, 50):.3f}s p95 {percentile(all_times, 95):.3f}s"
    )

    t0 = time.monotonic()
    call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0)
    noop = time.monotonic() - t0
    print(
        f"no-op migrate of {args.stores} store schemas: {noop:.1f}s ({noop / args.stores:.3f}s per store)"
    )


if __name__ == "__main__":
    main()
