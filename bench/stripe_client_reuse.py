"""One Stripe client per process vs a new client per call (what payments did before).

Runs N `GET /v1/accounts/{id}` through payments.stripe_client against the Stripe stand-in
on loopback, first building a fresh StripeClient (and HTTP session) for every call, as the
old `_client()` did, then with the process's one client. Prints calls/s and how many TCP
connections the stand-in accepted for each: against the real API every new connection is
also a TLS handshake (~1 round trip more, plus the key exchange), which loopback HTTP
doesn't show, so the connection count is the figure that carries over.

    python -m bench.stripe_client_reuse [--calls 300]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_TESTING", "1")
    import django

    from devtools.stripe_standin import serve_in_thread

    server, base = serve_in_thread(port=0, webhook_url=None, webhook_secret="x", deliver=False)
    accepted = {"n": 0}
    original = server.get_request

    def counting_get_request():
        accepted["n"] += 1
        return original()

    server.get_request = counting_get_request  # type: ignore[method-assign]
    os.environ["STRIPE_API_BASE"] = base
    os.environ["STRIPE_SECRET_KEY"] = "sk_test_bench"
    django.setup()
    import stripe
    from django.conf import settings

    from payments import stripe_client

    account = stripe_client._client().v1.accounts.create(params={"country": "US"}).id

    def fresh_client() -> stripe.StripeClient:  # the code before this change
        addresses = {"api": base, "connect": base, "files": base}
        return stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            base_addresses=addresses,  # type: ignore[arg-type]
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT),
        )

    def run(make_client) -> tuple[float, int]:
        gc.collect()  # close the sessions the last "new client" round left behind first
        time.sleep(0.5)
        before = accepted["n"]
        started = time.perf_counter()
        for _ in range(args.calls):
            make_client().v1.accounts.retrieve(account)
        return time.perf_counter() - started, accepted["n"] - before

    try:
        rounds = []
        for _ in range(3):  # alternate, so neither side gets a warmer machine
            rounds.append(("new client per call", *run(fresh_client)))
            rounds.append(
                ("one client (payments.stripe_client._client)", *run(stripe_client._client))
            )
    finally:
        server.shutdown()
    print(f"{args.calls} account retrieves per round, Stripe stand-in on loopback")
    for name, seconds, connections in rounds:
        print(f"  {name:45s} {args.calls / seconds:7.0f} calls/s  {connections:4d} TCP connections")
    old = statistics.median(s for n, s, _ in rounds if n.startswith("new"))
    new = statistics.median(s for n, s, _ in rounds if n.startswith("one"))
    print(f"  median time ratio one/new: {new / old:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
