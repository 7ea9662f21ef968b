"""The `/v1` endpoints: routing, account scoping, `expand`, and list pagination.

Called with the store lock held, after authentication, fault injection and idempotency
have been handled by the server. Returns `(status, body)`; errors are `StripeError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import bank, ledger, tax
from .params import StripeError, as_hash, as_int, as_str, check_known, expand_list, no_such
from .store import Effects, Settings, Store, public


@dataclass
class Call:
    store: Store
    settings: Settings
    fx: Effects
    method: str
    path: str
    params: dict[str, Any]
    account: str | None


# Which fields of which object types `expand` can replace with the full object.
EXPANDABLE: dict[str, dict[str, str]] = {
    "checkout.session": {"payment_intent": "payment_intents", "line_items": "", "customer": ""},
    "payment_intent": {"latest_charge": "charges", "customer": "", "payment_method": ""},
    "charge": {
        "payment_intent": "payment_intents",
        "balance_transaction": "balance_transactions",
        "customer": "",
    },
    "payout": {"balance_transaction": "balance_transactions"},
    "refund": {"charge": "charges", "payment_intent": "payment_intents"},
    "application_fee": {"charge": "charges", "account": "", "balance_transaction": ""},
    "dispute": {"charge": "charges", "payment_intent": "payment_intents"},
}


def _expand_path(call: Call, node: dict[str, Any], parts: list[str], raw: str) -> None:
    if not parts:
        return
    head, rest = parts[0], parts[1:]
    if node.get("object") == "list" and head == "data":
        for item in node["data"]:
            _expand_path(call, item, rest, raw)
        return
    if node.get("object") == "checkout.session" and parts == ["total_details", "breakdown"]:
        # An includable field: absent unless expanded, and never in webhook payloads.
        session = call.store.get("sessions", node["id"])
        if session is not None and isinstance(node.get("total_details"), dict):
            node["total_details"]["breakdown"] = public(tax.breakdown(session))
        return
    fields = EXPANDABLE.get(node.get("object", ""), {})
    if head not in fields:
        raise StripeError(400, f"This property cannot be expanded ({head}).", param="expand")
    value = node.get(head)
    if head == "line_items" and node.get("object") == "checkout.session":
        session = call.store.get("sessions", node["id"])
        node[head] = _line_items_list(session) if session else None
    elif isinstance(value, str) and fields[head]:
        target = call.store.get(fields[head], value)
        if target is not None and fields[head] == "balance_transactions":
            target = ledger.transaction_view(target)
        if target is not None:
            node[head] = public(target)
            # The app reads the charge through the session's PaymentIntent; giving it the
            # charge too saves a round trip (the brief asks for it).
            if node.get("object") == "checkout.session" and head == "payment_intent":
                _expand_path(call, node[head], ["latest_charge"], raw)
    if rest and isinstance(node.get(head), dict):
        _expand_path(call, node[head], rest, raw)


def render(call: Call, obj: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    body = public(obj)
    for path in expand:
        _expand_path(call, body, path.split("."), path)
    return body


def _line_items_list(session: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": public(session["_line_items"]),
        "has_more": False,
        "url": f"/v1/checkout/sessions/{session['id']}/line_items",
    }


def _scoped(call: Call, collection: str, kind: str, object_id: str) -> dict[str, Any]:
    obj = call.store.get(collection, object_id)
    if obj is None or obj.get("_account") != call.account:
        raise no_such(kind, object_id)
    return obj


# --- lists ------------------------------------------------------------------------------

LIST_SESSION_PARAMS = {"status", "created", "limit", "starting_after", "ending_before",
                       "payment_intent", "customer", "customer_details", "payment_link",
                       "subscription", "expand"}  # fmt: skip


def _created_filter(value: Any) -> dict[str, int]:
    if isinstance(value, dict):
        check_known(value, {"gt", "gte", "lt", "lte"}, "created")
        return {op: as_int(v, f"created[{op}]") for op, v in value.items()}
    return {"eq": as_int(value, "created")}


def _matches_created(created: int, bounds: dict[str, int]) -> bool:
    checks = {
        "gt": created > bounds.get("gt", created - 1),
        "gte": created >= bounds.get("gte", created),
        "lt": created < bounds.get("lt", created + 1),
        "lte": created <= bounds.get("lte", created),
        "eq": created == bounds.get("eq", created),
    }
    return all(checks.values())


def _paginate(
    call: Call, items: list[dict[str, Any]], params: dict[str, Any], url: str, kind: str
) -> dict[str, Any]:
    limit = 10
    if params.get("limit") not in (None, ""):
        limit = as_int(params["limit"], "limit")
        if not 1 <= limit <= 100:
            raise StripeError(
                400, "Invalid limit: must be an integer between 1 and 100.", param="limit"
            )
    ids = [item["id"] for item in items]
    if params.get("starting_after"):
        cursor = as_str(params["starting_after"], "starting_after")
        if cursor not in ids:
            raise no_such(kind, cursor, "starting_after", status=400)
        items = items[ids.index(cursor) + 1 :]
        page = items[:limit]
    elif params.get("ending_before"):
        cursor = as_str(params["ending_before"], "ending_before")
        if cursor not in ids:
            raise no_such(kind, cursor, "ending_before", status=400)
        items = items[: ids.index(cursor)]
        page = items[-limit:]
    else:
        page = items[:limit]
    return {
        "object": "list",
        "data": [public(item) for item in page],
        "has_more": len(items) > len(page),
        "url": url,
    }


def list_sessions(call: Call) -> dict[str, Any]:
    params = call.params
    check_known(params, LIST_SESSION_PARAMS)
    for session in list(call.store.data["sessions"].values()):
        if session["_account"] == call.account:
            bank.expire_if_due(call.store, call.settings, call.fx, session)
    status = as_str(params["status"], "status") if params.get("status") else None
    if status and status not in ("open", "complete", "expired"):
        raise StripeError(400, "Invalid status: must be one of complete, expired, or open", param="status")  # fmt: skip
    created = _created_filter(params["created"]) if params.get("created") not in (None, "") else {}
    pi_filter = (
        as_str(params["payment_intent"], "payment_intent") if params.get("payment_intent") else None
    )
    email = None
    if params.get("customer_details"):
        details = as_hash(params["customer_details"], "customer_details")
        check_known(details, {"email"}, "customer_details")
        email = as_str(details.get("email", ""), "customer_details[email]").lower()
    items = [
        s
        for s in call.store.data["sessions"].values()
        if s["_account"] == call.account
        and (status is None or s["status"] == status)
        and _matches_created(s["created"], created)
        and (pi_filter is None or s["payment_intent"] == pi_filter)
        and (email is None or ((s["customer_details"] or {}).get("email") or "").lower() == email)
    ]
    # Stripe lists newest first; the sequence number breaks ties within one second.
    items.sort(key=lambda s: (s["created"], s["_seq"]), reverse=True)
    body = _paginate(call, items, params, "/v1/checkout/sessions", "checkout.session")
    for path in expand_list(params):
        _expand_path(call, body, path.split("."), path)
    return body


# --- endpoints --------------------------------------------------------------------------


def _only_expand(call: Call) -> list[str]:
    check_known(call.params, {"expand"})
    return expand_list(call.params)


def _account_create(call: Call) -> dict[str, Any]:
    acct = bank.create_account(call.store, call.params)
    acct["livemode"] = bool(call.fx.livemode)
    return render(call, acct, expand_list(call.params))


def _account_retrieve(call: Call, account_id: str) -> dict[str, Any]:
    expand = _only_expand(call)
    acct = bank.usable_account(call.store, call.settings, account_id)
    if call.account and call.account != account_id:
        raise bank.account_access_error(call.settings, account_id)
    return render(call, acct, expand)


def _account_link_create(call: Call) -> dict[str, Any]:
    return bank.create_account_link(call.store, call.settings, call.params)


def _session_create(call: Call) -> dict[str, Any]:
    session = bank.create_session(call.store, call.settings, call.account, call.params)
    session["livemode"] = bool(call.fx.livemode)
    return render(call, session, expand_list(call.params))


def _session_list(call: Call) -> dict[str, Any]:
    return list_sessions(call)


def _session_retrieve(call: Call, session_id: str) -> dict[str, Any]:
    expand = _only_expand(call)
    session = bank.session_for(call.store, call.account, session_id)
    bank.expire_if_due(call.store, call.settings, call.fx, session)
    return render(call, session, expand)


def _session_line_items(call: Call, session_id: str) -> dict[str, Any]:
    check_known(call.params, {"expand", "limit", "starting_after", "ending_before"})
    session = bank.session_for(call.store, call.account, session_id)
    return _paginate(
        call,
        session["_line_items"],
        call.params,
        f"/v1/checkout/sessions/{session_id}/line_items",
        "line_item",
    )


def _session_expire(call: Call, session_id: str) -> dict[str, Any]:
    expand = _only_expand(call)
    session = bank.session_for(call.store, call.account, session_id)
    bank.expire_session(call.store, call.settings, call.fx, session, explicit=True)
    return render(call, session, expand)


def _refund_create(call: Call) -> dict[str, Any]:
    refund = bank.create_refund(call.store, call.settings, call.fx, call.account, call.params)
    return render(call, refund, expand_list(call.params))


def _refund_retrieve(call: Call, refund_id: str) -> dict[str, Any]:
    expand = _only_expand(call)
    return render(call, _scoped(call, "refunds", "refund", refund_id), expand)


def _refund_list(call: Call) -> dict[str, Any]:
    items = bank.list_refunds(call.store, call.account, call.params)
    body = _paginate(call, items, call.params, "/v1/refunds", "refund")
    for path in expand_list(call.params):
        _expand_path(call, body, path.split("."), path)
    return body


def _application_fee_retrieve(call: Call, fee_id: str) -> dict[str, Any]:
    # The platform's own object: asked with a Stripe-Account header, it is not found.
    expand = _only_expand(call)
    return render(call, _scoped(call, "application_fees", "application_fee", fee_id), expand)


def _payment_intent_retrieve(call: Call, pi_id: str) -> dict[str, Any]:
    check_known(call.params, {"expand", "client_secret"})
    expand = expand_list(call.params)
    return render(call, _scoped(call, "payment_intents", "payment_intent", pi_id), expand)


def _dispute_retrieve(call: Call, dispute_id: str) -> dict[str, Any]:
    expand = _only_expand(call)
    return render(call, _scoped(call, "disputes", "dispute", dispute_id), expand)


def _charge_retrieve(call: Call, charge_id: str) -> dict[str, Any]:
    expand = _only_expand(call)
    return render(call, _scoped(call, "charges", "charge", charge_id), expand)


def _balance_retrieve(call: Call) -> dict[str, Any]:
    _only_expand(call)
    return ledger.balance(call.store, call.account or "", livemode=bool(call.fx.livemode))


def _balance_transaction_retrieve(call: Call, txn_id: str) -> dict[str, Any]:
    expand = _only_expand(call)
    txn = _scoped(call, "balance_transactions", "balance_transaction", txn_id)
    return render(call, ledger.transaction_view(txn), expand)


LIST_PAYOUT_PARAMS = {"status", "created", "arrival_date", "destination", "limit",
                      "starting_after", "ending_before", "expand"}  # fmt: skip


def _payout_list(call: Call) -> dict[str, Any]:
    params = call.params
    check_known(params, LIST_PAYOUT_PARAMS)
    status = as_str(params["status"], "status") if params.get("status") else None
    if status and status not in ledger.PAYOUT_STATUSES:
        raise StripeError(
            400,
            "Invalid status: must be one of canceled, failed, in_transit, paid, or pending",
            param="status",
        )
    created = _created_filter(params["created"]) if params.get("created") not in (None, "") else {}
    items = [
        p
        for p in call.store.data["payouts"].values()
        if p["_account"] == call.account
        and (status is None or p["status"] == status)
        and _matches_created(p["created"], created)
    ]
    items.sort(key=lambda p: (p["created"], p["_seq"]), reverse=True)
    body = _paginate(call, items, params, "/v1/payouts", "payout")
    for path in expand_list(params):
        _expand_path(call, body, path.split("."), path)
    return body


def _payout_retrieve(call: Call, payout_id: str) -> dict[str, Any]:
    expand = _only_expand(call)
    return render(call, _scoped(call, "payouts", "payout", payout_id), expand)


# --- routing ----------------------------------------------------------------------------

_ID = r"([A-Za-z0-9_]+)"
ROUTES: list[tuple[str, re.Pattern[str], Callable[..., dict[str, Any]]]] = [
    ("POST", re.compile(r"/v1/accounts"), _account_create),
    ("GET", re.compile(rf"/v1/accounts/{_ID}"), _account_retrieve),
    ("POST", re.compile(r"/v1/account_links"), _account_link_create),
    ("POST", re.compile(r"/v1/checkout/sessions"), _session_create),
    ("GET", re.compile(r"/v1/checkout/sessions"), _session_list),
    ("GET", re.compile(rf"/v1/checkout/sessions/{_ID}"), _session_retrieve),
    ("GET", re.compile(rf"/v1/checkout/sessions/{_ID}/line_items"), _session_line_items),
    ("POST", re.compile(rf"/v1/checkout/sessions/{_ID}/expire"), _session_expire),
    ("POST", re.compile(r"/v1/refunds"), _refund_create),
    ("GET", re.compile(r"/v1/refunds"), _refund_list),
    ("GET", re.compile(rf"/v1/refunds/{_ID}"), _refund_retrieve),
    ("GET", re.compile(rf"/v1/application_fees/{_ID}"), _application_fee_retrieve),
    ("GET", re.compile(rf"/v1/payment_intents/{_ID}"), _payment_intent_retrieve),
    ("GET", re.compile(rf"/v1/charges/{_ID}"), _charge_retrieve),
    ("GET", re.compile(rf"/v1/disputes/{_ID}"), _dispute_retrieve),
    ("GET", re.compile(r"/v1/balance"), _balance_retrieve),
    ("GET", re.compile(rf"/v1/balance_transactions/{_ID}"), _balance_transaction_retrieve),
    ("GET", re.compile(r"/v1/payouts"), _payout_list),
    ("GET", re.compile(rf"/v1/payouts/{_ID}"), _payout_retrieve),
]


def handle(call: Call) -> tuple[int, dict[str, Any]]:
    for method, pattern, endpoint in ROUTES:
        match = pattern.fullmatch(call.path)
        if match and method == call.method:
            return 200, endpoint(call, *match.groups())
    raise StripeError(
        404,
        f"Unrecognized request URL ({call.method}: {call.path}). Please see "
        f"https://stripe.com/docs or we can help at https://support.stripe.com/.",
    )
