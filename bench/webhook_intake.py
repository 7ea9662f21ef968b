"""Webhook intake: signed events per second accepted, with 32 concurrent senders.

    python -m bench.webhook_intake [--seconds 10] [--connections 32] [--rounds 1]
                                   [--metrics on|off|compare]

gunicorn (4 workers × 8 threads) serves the real endpoint: verify the signature, insert
the event once into the inbox, queue its processing on Redis (no worker runs, so this
measures intake only). wrk replays unique pre-signed events; every event id is new.
Prints events/s, p50/p99, and checks the inbox count equals the 2xx count.

--metrics compare runs the same intake with metrics on (request middleware and webhook
counters in prometheus_client's multiprocess files) and off, alternately, each round on a
fresh server and fresh event ids, and prints on/off.
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
    metrics_env,
    metrics_modes,
    prime,
    production_like_env,
    redis_url,
    server_cpu_seconds,
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
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--metrics", choices=["on", "off", "compare"], default="on")
    args = parser.parse_args()
    modes = metrics_modes(args.metrics)
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

    def events_file(count: int) -> str:
        events = tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False)  # noqa: SIM115
        events.write(signed_events(count))
        events.close()
        return events.name

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
                "--timeout",
                "10s",
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

    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu_per_event: dict[str, list[float]] = {mode: [] for mode in modes}
    for rnd in range(args.rounds):
        # Alternate which mode goes first: a busy neighbour then hurts both alike.
        for mode in modes if rnd % 2 == 0 else modes[::-1]:
            # Warm-up, then the measured run: every event id unique.
            files = [events_file(3_000), events_file(40_000)]
            with gunicorn(
                "config.wsgi:application", port, {**env, **metrics_env(mode)}, workers=2, threads=8
            ) as proc:
                prime(f"http://127.0.0.1:{port}/healthz", "localhost")
                run(files[0], 2)
                warm = StripeEvent.objects.count()
                cpu = server_cpu_seconds(proc)
                out = run(files[1], args.seconds)
                cpu = server_cpu_seconds(proc) - cpu
            for path in files:
                Path(path).unlink()
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            lat = dict(re.findall(r"\s(50|99)%\s+([\d.]+\w+)", out))
            total = int(re.search(r"(\d+) requests in", out).group(1))
            bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            stored = StripeEvent.objects.count() - warm
            rates[mode].append(rps)
            cpu_ms = cpu * 1000 / max(1, total)
            cpu_per_event[mode].append(cpu_ms)
            print(
                f"round {rnd + 1} metrics {mode:>3}: {rps:.0f} events/s accepted, "
                f"p50 {lat.get('50')}, p99 {lat.get('99')} "
                f"({args.connections} senders, {args.seconds}s; goal >= 400/s, p99 < 200 ms)"
            )
            print(
                f"  requests {total}, non-2xx {bad.group(1) if bad else 0}, "
                f"events in the inbox {stored}, server CPU {cpu_ms:.2f} ms/event",
                flush=True,
            )
    if len(modes) == 2:
        on = sum(rates["on"]) / len(rates["on"])
        off = sum(rates["off"]) / len(rates["off"])
        on_cpu = sum(cpu_per_event["on"]) / len(cpu_per_event["on"])
        off_cpu = sum(cpu_per_event["off"]) / len(cpu_per_event["off"])
        print(
            f"metrics on {on:.0f} events/s, off {off:.0f} events/s: "
            f"on/off {on / off:.3f} ({(on / off - 1) * 100:+.1f} %; goal within 5 %); "
            f"server CPU {on_cpu:.2f} vs {off_cpu:.2f} ms/event, on/off {on_cpu / off_cpu:.3f}"
        )
    import redis

    if env["REDIS_URL"]:
        redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()


if __name__ == "__main__":
    main()
