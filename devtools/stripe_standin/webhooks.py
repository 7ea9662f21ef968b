"""Signing and delivering events to the app's webhook endpoint, as Stripe does.

One background thread delivers in creation order (a heap keyed by due time, then event
sequence). Until the endpoint's port first accepts a connection (the app's server may
start after us), deliveries wait in the queue, probing quietly with backoff for at most
`endpoint_wait_seconds`; nothing is attempted or logged meanwhile. After that, failed attempts (non-2xx or connection errors) are retried after short
delays without blocking later events, like Stripe. Each attempt is signed afresh with
`Stripe-Signature: t=<unix>,v1=<HMAC-SHA256(secret, "t.body")>`, which
`stripe.Webhook.construct_event` verifies. The store lock is never held during HTTP:
the app's handler may well call back into this server.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from .store import Settings, Store, public

log = logging.getLogger("stripe_standin")

# Never route local deliveries through an HTTP(S)_PROXY from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def sign(payload: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header value for a payload (the exact bytes sent).

    The one implementation: the stand-in's deliveries, the tests and the benchmarks that
    post events themselves all sign with it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    body = payload.encode() if isinstance(payload, str) else payload
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def endpoint_listening(url: str, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections where `url` points."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def event_payload(event: dict[str, Any]) -> str:
    # Stripe sends pretty-printed JSON; the signature covers these exact bytes.
    return json.dumps(public(event), indent=2)


class Dispatcher:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._heap: list[tuple[float, int, str]] = []
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self._endpoint_seen = False

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="standin-webhooks", daemon=True)
        self._thread.start()
        # Deliveries interrupted by a restart carry on.
        with self.store.lock:
            pending = [
                e["id"]
                for e in self.store.data["events"].values()
                if e["_delivery"]["status"] in ("pending", "retrying")
            ]
        self.enqueue(pending)

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread:
            self._thread.join(timeout=5)

    def enqueue(self, event_ids: list[str]) -> None:
        """Queue first attempts; called once the causing request has been answered."""
        if not event_ids:
            return
        with self.store.lock:
            entries = []
            for event_id in event_ids:
                event = self.store.get("events", event_id)
                if event is None:
                    continue
                delivery = event["_delivery"]
                if not self.settings.deliver:
                    delivery["status"] = (
                        "held"  # deliver later via POST /_standin/events/{id}/deliver
                    )
                elif not self.settings.webhook_url:
                    delivery["status"] = "no_endpoint"
                else:
                    # Due time 0: first attempts go strictly in creation order.
                    entries.append((0.0, event["_seq"], event_id))
            self.store.mark_dirty()
        with self._cond:
            for entry in entries:
                heapq.heappush(self._heap, entry)
            self._cond.notify_all()

    def _await_endpoint(self) -> None:
        """Before the first delivery: wait, quietly and with backoff, for the endpoint's
        port to accept a connection, at most `endpoint_wait_seconds` after start. Once it
        has answered (or the wait is over), failures are attempts, retried and logged."""
        url = self.settings.webhook_url
        if self._endpoint_seen or not url:
            return
        delay = 0.05
        deadline = self._started + self.settings.endpoint_wait_seconds
        while not self._stop and time.monotonic() < deadline:
            if endpoint_listening(url):
                break
            log.debug("webhook endpoint %s not listening yet; waiting %.2fs", url, delay)
            with self._cond:
                self._cond.wait(delay)
            delay = min(delay * 2, 2.0)
        self._endpoint_seen = True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop:
                    if self._heap and self._heap[0][0] <= time.time():
                        break
                    timeout = (self._heap[0][0] - time.time()) if self._heap else None
                    self._cond.wait(timeout)
                if self._stop:
                    return
            # The queue stays as it is (in order) while the endpoint is not up yet.
            self._await_endpoint()
            with self._cond:
                if self._stop:
                    return
                if not self._heap:
                    continue
                _, seq, event_id = heapq.heappop(self._heap)
            try:
                attempt = self.deliver(event_id, trigger="auto")
            except Exception:
                log.exception("Webhook delivery of %s crashed", event_id)
                continue
            if attempt is None or attempt["ok"]:
                continue
            with self.store.lock:
                event = self.store.get("events", event_id)
                if event is None:
                    continue
                delivery = event["_delivery"]
                tries = len([a for a in delivery["attempts"] if a["trigger"] == "auto"])
                delays = self.settings.retry_delays
                if tries <= len(delays):
                    delivery["status"] = "retrying"
                    due = time.time() + delays[tries - 1]
                else:
                    delivery["status"] = "failed"
                    due = None
                self.store.mark_dirty()
            if due is not None:
                with self._cond:
                    heapq.heappush(self._heap, (due, seq, event_id))
                    self._cond.notify_all()

    def deliver(self, event_id: str, *, trigger: str = "manual") -> dict[str, Any] | None:
        """POST one event to the endpoint now and record the attempt."""
        with self.store.lock:
            event = self.store.get("events", event_id)
            if event is None:
                return None
            payload = event_payload(event)
            url = self.settings.webhook_url
            secret = self.settings.webhook_secret
            host = self.settings.webhook_host_header
            timeout = self.settings.delivery_timeout
        attempt: dict[str, Any] = {"at": time.time(), "url": url, "trigger": trigger}
        if not url:
            attempt.update(ok=False, status_code=None, error="no webhook_url configured")
        else:
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": sign(payload, secret),
            }
            if host:
                headers["Host"] = host
            request = urllib.request.Request(  # noqa: S310 - the URL is our own config
                url, data=payload.encode(), headers=headers, method="POST"
            )
            started = time.monotonic()
            try:
                with _opener.open(request, timeout=timeout) as response:
                    status = response.status
                    body = response.read(2000)
                attempt.update(status_code=status, ok=200 <= status < 300, error=None)
            except urllib.error.HTTPError as exc:
                body = exc.read(2000)
                attempt.update(status_code=exc.code, ok=False, error=f"HTTP {exc.code}")
            except (OSError, ValueError) as exc:
                body = b""
                attempt.update(status_code=None, ok=False, error=f"{type(exc).__name__}: {exc}")
            attempt["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            attempt["response_body"] = body.decode("utf-8", "replace")[:500]
        with self.store.lock:
            event = self.store.get("events", event_id)
            if event is not None:
                delivery = event["_delivery"]
                delivery["attempts"].append(attempt)
                if attempt["ok"]:
                    delivery["status"] = "delivered"
                elif trigger == "manual":
                    delivery["status"] = "failed"
                self.store.mark_dirty()
        level = logging.INFO if attempt["ok"] else logging.WARNING
        log.log(
            level,
            "webhook %s %s -> %s",
            event_id,
            trigger,
            attempt.get("status_code") or attempt.get("error"),
        )
        return attempt
