"""A bounded load run: 100 concurrent shoppers for 60 s across 5 stores.

    python -m bench.load [--users 100] [--seconds 60] [--stores 5]

gunicorn (4 workers x 4 threads) with the Redis cache, the Stripe stand-in for checkouts,
local-disk PDFs. wrk replays a plan that mixes storefront pages (50 %), product pages
(20 %), checkouts (15 %: a CSRF-checked POST that creates a Checkout Session on the
stand-in and redirects to it) and downloads (15 %: the full paywall check, counted and
logged). Loopback only; stops by itself. Prints requests/s, p50/p95/p99 and errors
(any 5xx or socket error fails the run).
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from bench.common import (
    ROOT,
    bench_database_url,
    database_recreate,
    django_setup,
    gunicorn,
    production_like_env,
    redis_url,
    server_cpu_seconds,
    wrk,
)


def _get(port: int, host: str, path: str) -> tuple[str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=90)  # workers may still boot
    conn.request("GET", path, headers={"Host": host})
    response = conn.getresponse()
    body = response.read().decode()
    cookie = response.getheader("Set-Cookie", "")
    conn.close()
    return body, cookie


def bench_env(stripe_port: int) -> dict[str, str]:
    media = Path(tempfile.mkdtemp(prefix="bench-media-"))
    return production_like_env(
        STRIPE_WEBHOOK_SECRET="whsec_bench",
        STRIPE_API_BASE=f"http://127.0.0.1:{stripe_port}",
        REDIS_URL=redis_url(),
        CELERY_TASK_ALWAYS_EAGER="1",
        DJANGO_MEDIA_ROOT=str(media),
        PROTECTED_MEDIA_DELIVERY="stream",
    )


def standin_start(stripe_port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.stripe_standin",
            "--host",
            "127.0.0.1",
            "--port",
            str(stripe_port),
            "--webhook-secret",
            "whsec_bench",
            "--log-level",
            "WARNING",
            "--no-deliver",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stores_build(count: int, helper) -> list[tuple]:
    """`count` connected stores, two products each, a paid purchase and its download token
    per product (Django set up on the bench database)."""
    from django_tenants.utils import schema_context

    from payments.models import Purchase
    from payments.services import download_token_for
    from sellers.models import User
    from tenants.services import store_create
    from tests.factories import product_with_file, purchase
    from tests.payments.conftest import connect_store

    stores = []
    for i in range(count):
        owner = User.objects.create_user(f"seller{i}@example.com", "bench-password-123")
        store = store_create(owner=owner, name=f"Load Store {i}", subdomain=f"load-{i}")
        connect_store(store, helper)
        products = [
            product_with_file(store, title=f"Guide {i}-{j}", price=900 + j) for j in range(2)
        ]
        tokens = []
        for product in products:
            bought = purchase(store, product, email=f"buyer{i}@example.com")
            with schema_context(store.schema_name):
                tokens.append(
                    download_token_for(
                        Purchase.objects.prefetch_related("grants").get(pk=bought.pk),
                        store=store,
                    )
                )
        stores.append((store, products, tokens))
    return stores


def plan_lines(
    stores: list[tuple], web_port: int, kinds=("checkout", "product", "storefront", "download")
) -> list[str]:
    """The shoppers' plan (load.lua): per store, per product 15 checkouts and 10 product
    pages, 50 storefront pages, 8 downloads per token; shuffled. `kinds` keeps some only
    (bench/load_breakdown.py measures one kind at a time)."""
    plan: list[str] = []
    rng = random.Random(7)
    for store, products, tokens in stores:
        host = store.host
        for product in products:
            body, cookie = _get(web_port, host, f"/p/{product.slug}/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
            csrf_cookie = re.search(r"csrftoken=([^;]+)", cookie).group(1)
            if "checkout" in kinds:
                for _ in range(15):
                    plan.append(
                        f"POST\t{host}\t/buy/{product.slug}/\tcsrftoken={csrf_cookie}\t"
                        f"csrfmiddlewaretoken={token}&attempt={uuid.uuid4().hex}"
                    )
            if "product" in kinds:
                plan += [f"GET\t{host}\t/p/{product.slug}/\t\t"] * 10
        if "storefront" in kinds:
            plan += [f"GET\t{host}\t/\t\t"] * 50
        if "download" in kinds:
            plan += [f"GET\t{host}\t/d/{t}/\t\t" for t in tokens for _ in range(8)]
    rng.shuffle(plan)
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--stores", type=int, default=5)
    # The server shape, for the load and its one-query baseline alike.
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.live import free_port, wait_for_port

    stripe_port, web_port = free_port(), free_port()
    url = bench_database_url()
    database_recreate(url)
    env = bench_env(stripe_port)
    standin = standin_start(stripe_port)
    try:
        wait_for_port(stripe_port)
        django_setup(url, **env)
        from django.core.management import call_command

        from tests.payments.conftest import Standin

        call_command("migrate_platform", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        helper = Standin(f"http://127.0.0.1:{stripe_port}")
        stores = stores_build(args.stores, helper)

        with gunicorn(
            "config.wsgi:application", web_port, env, workers=args.workers, threads=args.threads
        ) as server:
            plan = plan_lines(stores, web_port)
            cpu_before = server_cpu_seconds(server) + server_cpu_seconds(standin)
            plan_file = Path(tempfile.mkstemp(suffix=".tsv")[1])
            plan_file.write_text("\n".join(plan) + "\n")
            out = subprocess.run(
                [
                    "wrk",
                    "-t",
                    "2",
                    "-c",
                    str(args.users),
                    "-d",
                    f"{args.seconds}s",
                    "--timeout",
                    "10s",
                    "-s",
                    str(ROOT / "bench" / "load.lua"),
                    f"http://127.0.0.1:{web_port}/",
                    "--",
                    str(plan_file),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            cpu_load = server_cpu_seconds(server) + server_cpu_seconds(standin) - cpu_before
            plan_file.unlink()
        # The baseline in the same run: the stock one-query page, same server shape, same
        # 100 connections (bench/one_query_urls.py, on the untenanted app).
        with gunicorn(
            "bench.plain_wsgi:application",
            web_port,
            {**env, "BENCH_STORE": stores[0][0].subdomain},
            workers=4,
            threads=4,
        ) as server:
            wrk(f"http://127.0.0.1:{web_port}/one-query/", stores[0][0].host, seconds=3)
            cpu_before = server_cpu_seconds(server)
            baseline = wrk(
                f"http://127.0.0.1:{web_port}/one-query/",
                stores[0][0].host,
                seconds=min(args.seconds, 30),
                connections=args.users,
            )
            cpu_baseline = server_cpu_seconds(server) - cpu_before
            if baseline["non_2xx"]:
                raise SystemExit(f"one-query page: {baseline['non_2xx']} non-2xx responses")
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        total = int(re.search(r"(\d+) requests in", out).group(1))
        non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        lat = dict(re.findall(r"(p\d+|max)_ms=([\d.]+)", out))
        errors = re.search(r"LOAD errors (.*)", out).group(1)
        print(
            f"{args.users} users, {args.seconds}s, {args.stores} stores: {total} requests, {rps:.0f} req/s"
        )
        print(
            f"latency p50 {lat['p50']} ms, p95 {lat['p95']} ms, p99 {lat['p99']} ms, max {lat['max']} ms"
        )
        print(f"non-2xx/3xx: {non_ok.group(1) if non_ok else 0}; socket errors: {errors}")
        print(
            f"one-query page, same server shape, {args.users} connections: {baseline['rps']:.0f} req/s "
            f"(p95 {baseline['p95_ms']:.0f} ms, p99 {baseline['p99_ms']:.0f} ms{'; socket errors ' + baseline['socket_errors'] if baseline['socket_errors'] else ''}); "
            f"the load ran at {rps / baseline['rps']:.2f} of it"
        )
        # Closed loop (each connection sends its next request when the last is answered):
        # by Little's law the mean latency is connections / throughput, whatever the code.
        print(
            f"mean latency by Little's law ({args.users} connections / req/s): load "
            f"{1000 * args.users / rps:.0f} ms, one-query page {1000 * args.users / baseline['rps']:.0f} ms; "
            f"p95 under 150 ms needs more than {1000 * args.users / 150:.0f} req/s at the very least"
        )
        # Steadier than requests/s on a shared machine: CPU time of the servers (gunicorn
        # and its workers, plus the stand-in for the load) per request.
        print(
            f"server CPU per request: load {1000 * cpu_load / total:.2f} ms "
            f"(gunicorn + stand-in), one-query page "
            f"{1000 * cpu_baseline / baseline['requests']:.2f} ms"
        )
        sessions = [r for r in helper.requests("/v1/checkout/sessions") if r["method"] == "POST"]
        print(f"checkout sessions created at the stand-in: {len(sessions)}")
        if non_ok or "connect=0 read=0 write=0 status=0 timeout=0" not in errors:
            raise SystemExit("the load run had errors")
    finally:
        standin.terminate()
        standin.wait(timeout=10)


if __name__ == "__main__":
    main()
