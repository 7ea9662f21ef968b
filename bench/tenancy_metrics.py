"""The tenancy ratio with metrics on and off (issue #17): storefront requests per second
with tenancy, against the same page without it. (bench.tenancy_overhead measures the
storefront and product page against a one-query page, issue #14.)

    python -m bench.tenancy_metrics [--seconds 10] [--rounds 2] [--products 12]
                                    [--metrics on|off|compare]

Both servers are gunicorn (2 sync workers) on this machine, measured alternately in one
run with wrk (16 connections, keep-alive) on loopback. The tenant server resolves the
store from the Host header through the routing cache (Redis when REDIS_URL or the local
Redis is available, as in production); the baseline serves a fixed schema.

--metrics compare measures both servers with metrics on (request middleware, counters in
prometheus_client's multiprocess files) and off, alternately, and prints the tenancy ratio
of each and tenant-with-metrics over tenant-without.
"""

from __future__ import annotations

import argparse

from bench.common import (
    bench_database_url,
    database_recreate,
    django_setup,
    gunicorn,
    metrics_env,
    metrics_modes,
    prime,
    production_like_env,
    redis_url,
    server_cpu_seconds,
    wrk,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--products", type=int, default=12)
    parser.add_argument("--metrics", choices=["on", "off", "compare"], default="on")
    args = parser.parse_args()
    modes = metrics_modes(args.metrics)

    url = bench_database_url()
    database_recreate(url)
    redis = redis_url()
    env = production_like_env(
        BENCH_STORE="bench",
        REDIS_URL=redis,
    )
    django_setup(url, **env)
    from django.core.management import call_command
    from django_tenants.utils import schema_context

    from catalog.models import Product
    from sellers.models import User
    from tenants.services import store_create

    call_command("migrate_platform", verbosity=0)
    owner = User.objects.create_user("bench@example.com", "bench-password-123")
    store = store_create(owner=owner, name="Bench Books", subdomain="bench")
    with schema_context(store.schema_name):
        for i in range(args.products):
            Product.objects.create(
                title=f"Guide {i}", slug=f"guide-{i}", price=900 + i, status="published"
            )
    call_command("collectstatic", interactive=False, verbosity=0)
    from django.core.cache import cache

    cache.clear()

    host = "bench.localhost"
    results: dict[tuple[str, str], list[float]] = {
        (name, mode): [] for name in ("tenant", "plain") for mode in modes
    }
    cpu_per_request: dict[tuple[str, str], list[float]] = {key: [] for key in results}
    print(
        f"cache: {'redis ' + redis if redis else 'local memory'}; {args.products} products on the page"
    )
    for rnd in range(args.rounds):
        # Alternate which mode goes first: a busy neighbour then hurts both alike.
        for mode in modes if rnd % 2 == 0 else modes[::-1]:
            for name, app, port in (
                ("tenant", "config.wsgi:application", 18301),
                ("plain", "bench.plain_wsgi:application", 18302),
            ):
                with gunicorn(app, port, {**env, **metrics_env(mode)}) as proc:
                    prime(f"http://127.0.0.1:{port}/", host)
                    wrk(f"http://127.0.0.1:{port}/", host, seconds=2)  # warm up
                    cpu = server_cpu_seconds(proc)
                    r = wrk(f"http://127.0.0.1:{port}/", host, seconds=args.seconds)
                    cpu_ms = (server_cpu_seconds(proc) - cpu) * 1000 / max(1, r["requests"])
                if r["non_2xx"]:
                    raise SystemExit(f"{name}: {r['non_2xx']} non-2xx responses")
                results[(name, mode)].append(r["rps"])
                cpu_per_request[(name, mode)].append(cpu_ms)
                print(
                    f"round {rnd + 1} {name:>6} metrics {mode:>3}: {r['rps']:8.1f} req/s  "
                    f"p99 {r['p99_ms']:.1f} ms  server CPU {cpu_ms:.2f} ms/request",
                    flush=True,
                )

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    ratios, cpu_ratios = {}, {}
    for mode in modes:
        tenant, plain = mean(results[("tenant", mode)]), mean(results[("plain", mode)])
        t_cpu, p_cpu = (
            mean(cpu_per_request[("tenant", mode)]),
            mean(cpu_per_request[("plain", mode)]),
        )
        ratios[mode], cpu_ratios[mode] = tenant / plain, p_cpu / t_cpu
        print(
            f"metrics {mode}: tenant {tenant:.1f} req/s, plain {plain:.1f} req/s, "
            f"ratio {tenant / plain:.2f} (goal >= 0.85); by server CPU per request "
            f"{t_cpu:.2f} vs {p_cpu:.2f} ms, ratio {p_cpu / t_cpu:.2f}"
        )
    if len(modes) == 2:
        on, off = mean(results[("tenant", "on")]), mean(results[("tenant", "off")])
        on_cpu = mean(cpu_per_request[("tenant", "on")])
        off_cpu = mean(cpu_per_request[("tenant", "off")])
        print(
            f"metrics on/off: tenant {on / off:.3f}× the requests/s, "
            f"{on_cpu / off_cpu:.3f}× the CPU per request; tenancy ratio {ratios['on']:.2f} vs "
            f"{ratios['off']:.2f} ({(ratios['on'] / ratios['off'] - 1) * 100:+.1f} %), by CPU "
            f"{cpu_ratios['on']:.2f} vs {cpu_ratios['off']:.2f} "
            f"({(cpu_ratios['on'] / cpu_ratios['off'] - 1) * 100:+.1f} %; goal within 5 %)"
        )


if __name__ == "__main__":
    main()
