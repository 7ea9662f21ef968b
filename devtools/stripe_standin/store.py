"""The stand-in's memory: Stripe objects, events, idempotency records, and the state file.

Objects are plain dicts shaped like Stripe's JSON. Keys starting with `_` are private
bookkeeping (owning account, ordering, line items...) and are stripped by `public()`
before anything leaves the server. One re-entrant lock guards everything: requests are
short and in-memory, so serialising them is simpler than fine-grained locking and keeps
idempotency checks race-free.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import secrets
import string
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("stripe_standin")

# What stripe-python 16 pins; used for events only until a request tells us its version.
FALLBACK_API_VERSION = "2026-10-28.endive"

COLLECTIONS = (
    "accounts",
    "account_links",
    "sessions",
    "payment_intents",
    "charges",
    "refunds",
    "application_fees",
    "disputes",
    "balance_transactions",
    "payouts",
    "events",
)

# Which collection an id belongs to, for expansion and control lookups.
PREFIX_COLLECTION = {
    "acct_": "accounts",
    "cs_": "sessions",
    "pi_": "payment_intents",
    "ch_": "charges",
    "re_": "refunds",
    "fee_": "application_fees",
    "dp_": "disputes",
    "txn_": "balance_transactions",
    "po_": "payouts",
    "evt_": "events",
}

# Bounded so the state file and memory stay small during long dev sessions/benchmarks.
MAX_EVENTS = 5000
MAX_IDEMPOTENCY = 20000
MAX_REQUESTS = 20000

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def now() -> int:
    return int(time.time())


def public(value: Any) -> Any:
    """A deep copy without private `_` keys: what the API returns."""
    if isinstance(value, dict):
        return {k: public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [public(v) for v in value]
    return value


@dataclass
class Settings:
    """Runtime configuration; changeable through POST /_standin/config."""

    public_url: str
    webhook_secret: str
    webhook_url: str | None = None
    # Hosts like alice.localhost do not resolve from Python, so we connect to the URL as
    # given (127.0.0.1-based) and can send the Host the app expects.
    webhook_host_header: str | None = None
    deliver: bool = True
    api_version: str | None = None
    retry_delays: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    # The app's server often starts after us (`make run` migrates first): until its port
    # first accepts a connection, deliveries wait quietly, at most this long from start.
    endpoint_wait_seconds: float = 120.0
    delivery_timeout: float = 10.0
    # How long a "timeout" fault stalls; longer than the app's STRIPE_TIMEOUT (10 s).
    fault_timeout_seconds: float = 15.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "public_url": self.public_url,
            "webhook_url": self.webhook_url,
            "webhook_secret": self.webhook_secret,
            "webhook_host_header": self.webhook_host_header,
            "deliver": self.deliver,
            "api_version": self.api_version,
            "retry_delays": self.retry_delays,
            "endpoint_wait_seconds": self.endpoint_wait_seconds,
            "delivery_timeout": self.delivery_timeout,
            "fault_timeout_seconds": self.fault_timeout_seconds,
        }


@dataclass
class Effects:
    """What one request caused, handed to the webhook dispatcher after it has answered."""

    request_id: str | None = None
    idempotency_key: str | None = None
    events: list[str] = field(default_factory=list)
    # The mode of the key that made the request (sk_live_ → True); None for control calls.
    livemode: bool | None = None
    # Made with a connected account's own key (the seller acting without the platform).
    own_key: bool = False


class Store:
    def __init__(self, state_file: str | os.PathLike[str] | None = None) -> None:
        self.lock = threading.RLock()
        self.data: dict[str, OrderedDict[str, dict[str, Any]]] = {
            name: OrderedDict() for name in COLLECTIONS
        }
        self.idempotency: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.requests: list[dict[str, Any]] = []
        self.platform = {"id": new_id("ca_", 32), "name": "Stand-in platform"}
        self.last_api_version: str | None = None
        self.seq = 0
        self.state_file = Path(state_file) if state_file else None
        self._save_lock = threading.Lock()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._saver: threading.Thread | None = None
        if self.state_file:
            self._load()

    # --- objects ------------------------------------------------------------------------

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def put(self, collection: str, obj: dict[str, Any]) -> dict[str, Any]:
        obj.setdefault("_seq", self.next_seq())
        self.data[collection][obj["id"]] = obj
        if collection == "events":
            while len(self.data["events"]) > MAX_EVENTS:
                self.data["events"].popitem(last=False)
        self.mark_dirty()
        return obj

    def get(self, collection: str, object_id: str) -> dict[str, Any] | None:
        return self.data[collection].get(object_id)

    def find(self, object_id: str) -> dict[str, Any] | None:
        for prefix, collection in PREFIX_COLLECTION.items():
            if object_id.startswith(prefix):
                return self.data[collection].get(object_id)
        return None

    def account_for_key(self, key: str) -> str | None:
        """The connected account whose own secret key this is (a seller acting alone)."""
        for acct in self.data["accounts"].values():
            if key in acct.get("_secret_keys", ()):
                return acct["id"]
        return None

    def api_version(self, settings: Settings) -> str:
        return settings.api_version or self.last_api_version or FALLBACK_API_VERSION

    def emit(
        self,
        settings: Settings,
        fx: Effects,
        type: str,
        obj: dict[str, Any],
        *,
        account: str | None,
        previous_attributes: dict[str, Any] | None = None,
        livemode: bool | None = None,
    ) -> dict[str, Any]:
        """Record an event; it is queued for delivery once the request has answered.

        Its mode: `livemode` if given, else the object's, else the request key's. Stripe
        sends a connected account's test-mode events to a live Connect endpoint too, so
        tests can make either kind.
        """
        if livemode is None:
            livemode = obj["livemode"] if "livemode" in obj else bool(fx.livemode)
        data: dict[str, Any] = {"object": public(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event: dict[str, Any] = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": self.api_version(settings),
            "created": now(),
            "data": data,
            "livemode": bool(livemode),
            "pending_webhooks": 1,
            "request": {"id": fx.request_id, "idempotency_key": fx.idempotency_key},
            "type": type,
        }
        if account:
            event["account"] = account
        event["_delivery"] = {"status": "pending", "attempts": []}
        self.put("events", event)
        fx.events.append(event["id"])
        return event

    # --- request log --------------------------------------------------------------------

    def record_request(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.requests.append(entry)
            if len(self.requests) > MAX_REQUESTS:
                del self.requests[: len(self.requests) - MAX_REQUESTS]
        return entry

    # --- idempotency --------------------------------------------------------------------

    def remember(self, scope_key: str, record: dict[str, Any]) -> None:
        self.idempotency[scope_key] = record
        while len(self.idempotency) > MAX_IDEMPOTENCY:
            self.idempotency.popitem(last=False)
        self.mark_dirty()

    # --- reset --------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            for collection in self.data.values():
                collection.clear()
            self.idempotency.clear()
            self.requests.clear()
            self.mark_dirty()

    # --- persistence --------------------------------------------------------------------

    def mark_dirty(self) -> None:
        self._dirty.set()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(
                {
                    "version": 1,
                    "saved_at": now(),
                    "platform": self.platform,
                    "seq": self.seq,
                    "last_api_version": self.last_api_version,
                    "collections": {k: list(v.values()) for k, v in self.data.items()},
                    "idempotency": list(self.idempotency.items()),
                }
            )

    def save(self) -> None:
        if not self.state_file:
            return
        with self._save_lock:
            self._dirty.clear()
            payload = json.dumps(self.snapshot(), separators=(",", ":"))
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_name(f".{self.state_file.name}.{os.getpid()}.tmp")
            # Write-then-rename: a crash mid-write never leaves a half file behind.
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.state_file)

    def _load(self) -> None:
        assert self.state_file is not None
        if not self.state_file.exists():
            return
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
            collections = state["collections"]
        except (OSError, ValueError, KeyError) as exc:
            # Keep the bad file for inspection and start clean rather than refusing to run.
            broken = self.state_file.with_suffix(self.state_file.suffix + ".corrupt")
            log.warning("State file %s unreadable (%s); moved to %s", self.state_file, exc, broken)
            os.replace(self.state_file, broken)
            return
        for name in COLLECTIONS:
            for obj in collections.get(name, []):
                self.data[name][obj["id"]] = obj
        self.idempotency = OrderedDict((k, v) for k, v in state.get("idempotency", []))
        self.platform = state.get("platform") or self.platform
        self.seq = int(state.get("seq") or 0)
        self.last_api_version = state.get("last_api_version")
        log.info(
            "Loaded %d accounts, %d sessions from %s",
            len(self.data["accounts"]),
            len(self.data["sessions"]),
            self.state_file,
        )

    def start_saver(self) -> None:
        """Save shortly after each change, coalescing bursts (a busy benchmark would
        otherwise rewrite the whole file for every request)."""
        if not self.state_file or self._saver:
            return
        self._saver = threading.Thread(target=self._save_loop, name="standin-saver", daemon=True)
        self._saver.start()

    def _save_loop(self) -> None:
        while not self._stop.is_set():
            if self._dirty.wait(0.5) and not self._stop.is_set():
                try:
                    self.save()
                except OSError:
                    log.exception("Could not save state to %s", self.state_file)
                self._stop.wait(0.05)

    def close(self) -> None:
        self._stop.set()
        self._dirty.set()  # wake the saver so it sees the stop flag now
        if self._saver:
            self._saver.join(timeout=5)
        if self.state_file:
            self.save()
