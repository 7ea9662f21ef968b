"""Storefront and product page requests per second, against a stock one-query Django page
and against the same storefront without tenancy, all in one run.

    python -m bench.tenancy_overhead [--seconds 10] [--rounds 2] [--products 12]

The storefront and product page are requested without cookies, as a new visitor: they come
from the store's page cache (catalog.page_cache); "storefront, live" adds a query string,
which renders it. The one-query page (bench/one_query_urls.py) is one SELECT and a small
template behind the same middleware, on the untenanted server.

Both servers are gunicorn (2 sync workers) on this machine, measured alternately in one
run with wrk (16 connections, keep-alive) on loopback. The tenant server resolves the
store from the Host header through the routing cache (Redis when REDIS_URL or the local
Redis is available, as in production); the baseline serves a fixed schema.
"""

from __future__ import annotations

import argparse

from bench.common import (
    bench_database_url,
    database_recreate,
    django_setup,
    gunicorn,
    production_like_env,
    redis_url,
    wrk,
)


def ready(port: int, host: str, path: str, timeout: float = 90) -> None:
    """Wait until the server answers 200 (both workers booted: four answers in a row)."""
    import http.client
    import time

    deadline, ok = time.monotonic() + timeout, 0
    while ok < 4:
        if time.monotonic() > deadline:
            raise SystemExit(f"no 200 from {path} on port {port}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path, headers={"Host": host})
            ok = ok + 1 if conn.getresponse().status == 200 else 0
        except OSError:
            ok = 0
            time.sleep(0.5)
        finally:
            conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--products", type=int, default=12)
    args = parser.parse_args()

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
    from tests.live import free_port

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
    product = "/p/guide-0/"
    # (name, app, port, path): the tenant server's pages (anonymous, so from the page
    # cache; "?live" renders them), and on the untenanted server the same storefront and
    # the stock one-query page.
    # Free ports: other people's benchmarks may be running on this machine.
    tenant_port, plain_port = free_port(), free_port()
    cases = [
        ("storefront", "config.wsgi:application", tenant_port, "/"),
        ("product page", "config.wsgi:application", tenant_port, product),
        ("storefront, live", "config.wsgi:application", tenant_port, "/?live"),
        ("plain storefront", "bench.plain_wsgi:application", plain_port, "/"),
        ("one-query page", "bench.plain_wsgi:application", plain_port, "/one-query/"),
    ]
    results: dict[str, list[float]] = {name: [] for name, *_ in cases}
    print(
        f"cache: {'redis ' + redis if redis else 'local memory'}; {args.products} products on the page"
    )
    for rnd in range(args.rounds):
        for app, port in dict.fromkeys((app, port) for _, app, port, _ in cases):
            with gunicorn(app, port, env):
                for name, case_app, _, path in cases:
                    if case_app != app:
                        continue
                    ready(port, host, path)
                    wrk(f"http://127.0.0.1:{port}{path}", host, seconds=3)  # warm up
                    r = wrk(f"http://127.0.0.1:{port}{path}", host, seconds=args.seconds)
                    if r["non_2xx"]:
                        raise SystemExit(f"{name}: {r['non_2xx']} non-2xx responses")
                    results[name].append(r["rps"])
                    print(
                        f"round {rnd + 1} {name:>17}: {r['rps']:8.1f} req/s  p99 {r['p99_ms']:.1f} ms",
                        flush=True,
                    )
    mean = {name: sum(v) / len(v) for name, v in results.items()}
    base = mean["one-query page"]
    for name in results:
        print(f"{name:>17}: {mean[name]:8.1f} req/s  {mean[name] / base:.2f} of the one-query page")
    print(
        f"tenancy: storefront {mean['storefront']:.1f} vs plain storefront "
        f"{mean['plain storefront']:.1f} req/s, ratio {mean['storefront'] / mean['plain storefront']:.2f}"
    )


if __name__ == "__main__":
    main()
