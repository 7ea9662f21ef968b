"""Webhook intake: signed events per second accepted, with 32 concurrent senders.

    python -m bench.webhook_intake [--seconds 10] [--connections 32]

gunicorn (4 workers × 8 threads) serves the real endpoint: verify the signature, insert
the event once into the inbox, queue its processing on Redis (no worker runs, so this
measures intake only). wrk replays unique pre-signed events; every event id is new.
Prints events/s, p50/p99, and checks the inbox count equals the 2xx count.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
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
)
from devtools.stripe_standin import sign

SECRET = "whsec_bench_intake"


def signed_events(count: int) -> str:
    lines = []
    now = int(time.time())
    for _ in range(count):
        event = {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": "checkout.session.completed",
            "account": "acct_bench_unknown",
            "created": now,
            "livemode": False,
            "data": {
                "object": {"id": f"cs_test_{uuid.uuid4().hex[:24]}", "object": "checkout.session"}
            },
        }
        body = json.dumps(event, separators=(",", ":"))
        lines.append(f"{body}\t{sign(body, SECRET, now)}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    url = bench_database_url()
    database_recreate(url)
    env = production_like_env(
        STRIPE_WEBHOOK_SECRET=SECRET,
        STRIPE_API_BASE="http://127.0.0.1:9",
        REDIS_URL=redis_url(),
        CELERY_BROKER_URL=(redis_url() or "memory://").replace("/14", "/13"),
    )
    django_setup(url, **env)
    from django.core.management import call_command

    from payments.platform.models import StripeEvent

    call_command("migrate_platform", verbosity=0)
    files = []
    for count in (3_000, 40_000):  # warm-up, then the measured run: every event id unique
        events = tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False)  # noqa: SIM115
        events.write(signed_events(count))
        events.close()
        files.append(events.name)
    port = 18311
    call_command("collectstatic", interactive=False, verbosity=0)

    def run(path: str, seconds: int) -> str:
        return subprocess.run(
            [
                "wrk",
                "-t",
                "2",
                "-c",
                str(args.connections),
                "-d",
                f"{seconds}s",
                "--latency",
                "-H",
                "Host: localhost",
                "-s",
                str(ROOT / "bench" / "webhook_intake.lua"),
                f"http://127.0.0.1:{port}/",
                "--",
                path,
                "2",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    with gunicorn("config.wsgi:application", port, env, workers=2, threads=8):
        run(files[0], 2)
        warm = StripeEvent.objects.count()
        out = run(files[1], args.seconds)
    for path in files:
        Path(path).unlink()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"\s(50|99)%\s+([\d.]+\w+)", out))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    stored = StripeEvent.objects.count() - warm
    print(
        f"{rps:.0f} events/s accepted, p50 {lat.get('50')}, p99 {lat.get('99')} "
        f"({args.connections} senders, {args.seconds}s; goal >= 400/s, p99 < 200 ms)"
    )
    print(f"requests {total}, non-2xx {bad.group(1) if bad else 0}, events in the inbox {stored}")
    import redis

    if env["REDIS_URL"]:
        redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()


if __name__ == "__main__":
    main()
