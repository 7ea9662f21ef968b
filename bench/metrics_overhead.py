"""What metrics, request ids and log context cost per request, in CPU time.

    python -m bench.metrics_overhead [--requests 400] [--rounds 6]

One process, Django's test client, the storefront of a 12-product store through the whole
middleware stack with and without config.observability's middleware, alternately (and
in alternating order); CPU time (time.process_time), which a busy neighbour on a shared
machine hardly moves, unlike requests/s. Counters are in prometheus_client's
multiprocess mode, as under gunicorn. Also prints the middleware's own parts alone.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import timeit

from bench.common import bench_database_url, database_recreate, django_setup, production_like_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix="bench-metrics-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    )
    url = bench_database_url()
    database_recreate(url)
    django_setup(url, **production_like_env())
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import override_settings
    from django_tenants.utils import schema_context

    from catalog.models import Product
    from config import metrics
    from config.logs import log_bind, request_id_from
    from sellers.models import User
    from tenants.services import store_create

    call_command("migrate_platform", verbosity=0)
    owner = User.objects.create_user("bench@example.com", "bench-password-123")
    store = store_create(owner=owner, name="Bench Books", subdomain="bench")
    with schema_context(store.schema_name):
        for i in range(12):
            Product.objects.create(
                title=f"Guide {i}", slug=f"guide-{i}", price=900 + i, status="published"
            )

    with_mw = list(settings.MIDDLEWARE)
    without_mw = [m for m in with_mw if m != "config.observability.RequestObservabilityMiddleware"]
    assert with_mw != without_mw, "DJANGO_METRICS=off? the middleware is not installed"

    def cpu_ms_per_request(middleware: list[str]) -> float:
        with override_settings(MIDDLEWARE=middleware):
            client = Client(HTTP_HOST="bench.localhost")
            for _ in range(20):
                client.get("/")
            started = time.process_time()
            for _ in range(args.requests):
                assert client.get("/").status_code == 200
            return (time.process_time() - started) * 1000 / args.requests

    results: dict[str, list[float]] = {"on": [], "off": []}
    for rnd in range(args.rounds):
        order = (("on", with_mw), ("off", without_mw))
        for mode, middleware in order if rnd % 2 == 0 else order[::-1]:
            results[mode].append(cpu_ms_per_request(middleware))
        print(
            f"round {rnd + 1}: on {results['on'][-1]:.3f} ms, off {results['off'][-1]:.3f} ms "
            "CPU per storefront request",
            flush=True,
        )
    import statistics

    for name, pick in (("mean", statistics.mean), ("median", statistics.median), ("min", min)):
        on, off = pick(results["on"]), pick(results["off"])
        print(
            f"{name}: on {on:.3f} ms, off {off:.3f} ms, on/off {on / off:.3f} "
            f"({(on / off - 1) * 100:+.1f} %; goal within 5 %)"
        )
    n = 20000
    parts = {
        "request_observed (counter + histogram, multiprocess files)": lambda: (
            metrics.request_observed(view="storefront", method="GET", status=200, seconds=0.01)
        ),
        "request_id_from (16 random bytes)": lambda: request_id_from(None),
        "log_bind": lambda: log_bind(request_id="0" * 32, event_id=""),
        "webhook_received": lambda: metrics.webhook_received(outcome="recorded"),
    }
    for name, fn in parts.items():
        print(f"  {name}: {timeit.timeit(fn, number=n) / n * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
