"""`/_standin/...`: JSON endpoints that tests and the dev UI use to steer the stand-in.

They do what only Stripe (or a customer, or a bank) could do for real: inspect recorded
requests, inject faults, open disputes, disconnect accounts (with the event, or silently
revoke access), pay without a browser, and manage webhook delivery. No authentication:
this server only ever listens locally.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from . import bank, ledger
from .params import StripeError
from .responses import Response, json_response
from .store import Effects, new_id, public

if TYPE_CHECKING:
    from .server import App


@dataclass
class Fault:
    id: str
    mode: str  # "500" | "429" | "timeout"
    count: int  # how many more matching requests fail
    path_prefix: str = "/v1"
    method: str | None = None
    seconds: float | None = None  # timeout only: how long to stall
    after: str = "error"  # timeout only: "error" (then 500) or "execute" (then answer normally)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching this request."""
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path_prefix) and fault.method in (None, method):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return Fault(**asdict(fault))
        return None


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": {"message": message}})


def _body_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        # Accept form posts too, handy from curl or an HTML form in the dev UI.
        return dict(parse_qsl(body.decode("utf-8", "replace")))
    if not isinstance(data, dict):
        raise StripeError(400, "Expected a JSON object.")
    return data


def _event_view(event: dict[str, Any]) -> dict[str, Any]:
    # A copy: the dispatcher appends attempts while the response is being encoded.
    view = public(event)
    view["delivery"] = copy.deepcopy(event["_delivery"])
    return view


def handle(app: App, method: str, path: str, query: str, body: bytes, fx: Effects) -> Response:
    try:
        return _route(app, method, path, dict(parse_qsl(query)), _body_json(body), fx)
    except StripeError as exc:
        return json_response(exc.status, exc.body())


def _route(
    app: App, method: str, path: str, query: dict[str, str], data: dict[str, Any], fx: Effects
) -> Response:
    store, settings = app.store, app.settings
    sub = path.removeprefix("/_standin").rstrip("/") or "/"

    if sub in ("/", "/health") and method == "GET":
        return json_response(200, {"ok": True, "public_url": settings.public_url})

    if sub == "/requests":
        if method == "GET":
            with store.lock:
                items = copy.deepcopy(store.requests)
            for key in ("method", "stripe_account"):
                if query.get(key):
                    items = [r for r in items if r[key] == query[key]]
            if query.get("path_prefix"):
                items = [r for r in items if r["path"].startswith(query["path_prefix"])]
            return json_response(200, {"data": items})
        if method == "DELETE":
            with store.lock:
                store.requests.clear()
            return json_response(200, {"ok": True})

    if sub == "/faults":
        if method == "GET":
            return json_response(200, {"data": app.faults.list()})
        if method == "DELETE":
            app.faults.clear()
            return json_response(200, {"ok": True})
        if method == "POST":
            mode = str(data.get("mode", ""))
            if mode not in ("500", "429", "timeout"):
                return _error(400, "mode must be one of 500, 429, timeout")
            after = str(data.get("after", "error"))
            if after not in ("error", "execute"):
                return _error(400, "after must be error or execute")
            fault = app.faults.add(
                Fault(
                    id=new_id("fault_", 8),
                    mode=mode,
                    count=max(1, int(data.get("count", 1))),
                    path_prefix=str(data.get("path_prefix") or "/v1"),
                    method=str(data["method"]).upper() if data.get("method") else None,
                    seconds=float(data["seconds"]) if data.get("seconds") is not None else None,
                    after=after,
                )
            )
            return json_response(200, asdict(fault))

    if sub == "/config":
        if method == "POST":
            with store.lock:
                for key in ("webhook_url", "webhook_secret", "webhook_host_header", "api_version",
                            "public_url"):  # fmt: skip
                    if key in data:
                        value = data[key]
                        setattr(settings, key, str(value).rstrip("/") if key == "public_url" and value else value)  # fmt: skip
                if "deliver" in data:
                    settings.deliver = bool(data["deliver"])
                for key in ("delivery_timeout", "fault_timeout_seconds", "endpoint_wait_seconds"):
                    if key in data:
                        setattr(settings, key, float(data[key]))
                if "retry_delays" in data:
                    settings.retry_delays = [float(d) for d in data["retry_delays"]]
            return json_response(200, settings.as_dict())
        if method == "GET":
            return json_response(200, settings.as_dict())

    if sub == "/events" and method == "GET":
        with store.lock:
            events = [_event_view(e) for e in store.data["events"].values()]
        for key in ("type", "account"):
            if query.get(key):
                events = [e for e in events if e.get(key) == query[key]]
        return json_response(200, {"data": events})

    if match := re.fullmatch(r"/events/([A-Za-z0-9_]+)", sub):
        with store.lock:
            event = store.get("events", match.group(1))
            view = _event_view(event) if event else None
        if view is None:
            return _error(404, f"No such event: {match.group(1)}")
        return json_response(200, view)

    if (match := re.fullmatch(r"/events/([A-Za-z0-9_]+)/deliver", sub)) and method == "POST":
        # Synchronous on purpose: the caller wants to know how the endpoint answered.
        attempt = app.dispatcher.deliver(match.group(1), trigger="manual")
        if attempt is None:
            return _error(404, f"No such event: {match.group(1)}")
        return json_response(200, attempt)

    if sub == "/disputes" and method == "POST":
        if not data.get("charge"):
            return _error(400, "charge is required")
        with store.lock:
            dispute = bank.create_dispute(
                store, settings, fx, str(data["charge"]),
                reason=str(data.get("reason") or "fraudulent"),
                amount=int(data["amount"]) if data.get("amount") is not None else None,
                status=str(data.get("status") or "needs_response"),
            )  # fmt: skip
            return json_response(200, public(dispute))

    if (match := re.fullmatch(r"/disputes/([A-Za-z0-9_]+)/close", sub)) and method == "POST":
        with store.lock:
            dispute = bank.close_dispute(
                store, settings, fx, match.group(1), str(data.get("status", ""))
            )
            return json_response(200, public(dispute))

    if (match := re.fullmatch(r"/disputes/([A-Za-z0-9_]+)/status", sub)) and method == "POST":
        with store.lock:
            dispute = bank.set_dispute_status(
                store, settings, fx, match.group(1), str(data.get("status", ""))
            )
            return json_response(200, public(dispute))

    if (match := re.fullmatch(r"/refunds/([A-Za-z0-9_]+)/fail", sub)) and method == "POST":
        with store.lock:
            refund = bank.fail_refund(
                store, settings, fx, match.group(1), str(data.get("reason") or "unknown")
            )
            return json_response(200, public(refund))

    if (match := re.fullmatch(r"/accounts/([A-Za-z0-9_]+)/deauthorize", sub)) and method == "POST":
        livemode = bool(data["livemode"]) if "livemode" in data else None
        with store.lock:
            event = bank.deauthorize(store, settings, fx, match.group(1), livemode=livemode)
            return json_response(200, {"ok": True, "event": public(event)})

    if (match := re.fullmatch(r"/accounts/([A-Za-z0-9_]+)/keys", sub)) and method == "POST":
        # The seller's own secret key for their account: requests made with it act on
        # that account with no platform involved (sessions with any price and no fee).
        with store.lock:
            acct = store.get("accounts", match.group(1))
            if acct is None:
                return _error(404, f"No such account: {match.group(1)}")
            key = new_id("sk_live_" if acct.get("livemode") else "sk_test_", 32)
            acct.setdefault("_secret_keys", []).append(key)
            store.mark_dirty()
            return json_response(200, {"secret_key": key, "account": acct["id"]})

    if (match := re.fullmatch(r"/accounts/([A-Za-z0-9_]+)/revoke", sub)) and method == "POST":
        # Access gone without an event (lost, or not sent yet): calls now get the 403.
        with store.lock:
            bank.revoke_access(store, match.group(1))
            return json_response(200, {"ok": True})

    if (match := re.fullmatch(r"/accounts/([A-Za-z0-9_]+)/complete", sub)) and method == "POST":
        outcome = str(data.get("outcome") or "complete")
        if outcome not in bank.ONBOARDING_OUTCOMES:
            return _error(400, f"outcome must be one of {', '.join(bank.ONBOARDING_OUTCOMES)}")
        with store.lock:
            acct = bank.usable_account(store, settings, match.group(1))
            bank.set_onboarding_outcome(store, settings, fx, acct, outcome)
            return json_response(200, public(acct))

    if (match := re.fullmatch(r"/sessions/([A-Za-z0-9_]+)/pay", sub)) and method == "POST":
        card = bank.CardInput(
            email=str(data.get("email") or ""),
            number=str(data.get("card") or "4242424242424242"),
            exp=str(data.get("exp") or "12 / 34"),
            cvc=str(data.get("cvc") or "123"),
            name=str(data.get("name") or ""),
            country=str(data.get("country") or ""),
            state=str(data.get("state") or ""),
            postal_code=str(data.get("postal_code") or ""),
        )
        with store.lock:
            try:
                session = bank.pay_session(store, settings, fx, match.group(1), card)
            except bank.PayFormError as exc:
                return json_response(400, {"ok": False, "error": {"message": str(exc)}})
            except StripeError as exc:
                return json_response(exc.status, {"ok": False, **exc.body()})
            return json_response(
                200,
                {
                    "ok": True,
                    "session": public(session),
                    "redirect_url": bank.success_redirect(session),
                },
            )

    if (match := re.fullmatch(r"/sessions/([A-Za-z0-9_]+)/expire", sub)) and method == "POST":
        with store.lock:
            session = store.get("sessions", match.group(1))
            if session is None:
                return _error(404, f"No such checkout.session: {match.group(1)}")
            bank.expire_session(store, settings, fx, session, explicit=True)
            return json_response(200, public(session))

    if (match := re.fullmatch(r"/accounts/([A-Za-z0-9_]+)/settle_later", sub)) and method == "POST":
        # Charges on this account get no balance transaction until `/charges/<id>/settle`.
        with store.lock:
            acct = store.get("accounts", match.group(1))
            if acct is None:
                return _error(404, f"No such account: {match.group(1)}")
            acct["_settle_later"] = bool(data.get("on", True))
            store.mark_dirty()
            return json_response(200, {"ok": True, "settle_later": acct["_settle_later"]})

    if (match := re.fullmatch(r"/charges/([A-Za-z0-9_]+)/settle", sub)) and method == "POST":
        with store.lock:
            charge = ledger.settle_now(store, settings, fx, match.group(1))
            return json_response(200, public(charge))

    if (match := re.fullmatch(r"/accounts/([A-Za-z0-9_]+)/available", sub)) and method == "POST":
        with store.lock:
            ledger.make_available(store, settings, fx, match.group(1))
            return json_response(200, ledger.balance(store, match.group(1), livemode=False))

    if (match := re.fullmatch(r"/accounts/([A-Za-z0-9_]+)/payouts", sub)) and method == "POST":
        with store.lock:
            payout = ledger.payout_create(store, settings, fx, match.group(1), data)
            return json_response(200, public(payout))

    if sub == "/state" and method == "GET":
        return json_response(200, store.snapshot())

    if sub == "/reset" and method == "POST":
        store.reset()
        app.faults.clear()
        return json_response(200, {"ok": True})

    return _error(404, f"Unknown control endpoint: {method} {path}")
