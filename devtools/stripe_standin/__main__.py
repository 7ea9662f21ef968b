"""Command line: `python -m devtools.stripe_standin --port 12111 --webhook-url ...`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from .server import base_url_of, make_server

log = logging.getLogger("stripe_standin")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.stripe_standin",
        description="Local Stripe stand-in: the real stripe library talks to it over HTTP.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument(
        "--public-url",
        help="Base URL browsers use for hosted pages (default http://HOST:PORT)",
    )
    parser.add_argument("--webhook-url", help="Where to POST signed events (none: record only)")
    parser.add_argument("--webhook-secret", default="whsec_test")
    parser.add_argument(
        "--webhook-host",
        dest="webhook_host_header",
        help="Host header for webhook deliveries (e.g. localhost:8000) when the URL is an IP",
    )
    parser.add_argument("--state-file", help="JSON file to load at start and save after changes")
    parser.add_argument(
        "--no-deliver", action="store_true", help="Record events but do not send them"
    )
    parser.add_argument("--api-version", help="api_version stamped on events")
    parser.add_argument(
        "--endpoint-wait",
        type=float,
        default=120.0,
        help="Seconds deliveries wait, quietly, for the webhook endpoint to start listening",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM (what process supervisors send) into a normal exit so state is saved.
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s stripe-standin %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        server = make_server(
            args.host,
            args.port,
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret,
            public_url=args.public_url,
            state_file=args.state_file,
            webhook_host_header=args.webhook_host_header,
            deliver=not args.no_deliver,
            api_version=args.api_version,
            endpoint_wait_seconds=args.endpoint_wait,
        )
    except OSError as exc:
        print(f"stripe-standin: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _terminate)
    log.info(
        "Listening on %s (hosted pages at %s); webhooks -> %s",
        base_url_of(server),
        server.app.settings.public_url,
        args.webhook_url or "(not delivered)",
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
