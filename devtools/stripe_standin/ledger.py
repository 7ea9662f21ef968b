"""Balance transactions, balances and payouts of connected accounts, shaped as Stripe's.

A succeeded charge gets a balance transaction on the account it was made on (a direct
charge: the seller's), in the account's settlement currency (converted, with
`exchange_rate`, when the charge's currency differs), with Stripe's processing fee
(cards: 2.9 % + 30 minor units; zero-decimal currencies 3.6 %) and the platform's
application fee in `fee_details`; `fee` is their sum and `net` = `amount` − `fee`. It is
`pending` until `available_on` (two days later, as a US account's standard schedule).

An account set to `settle_later` (control endpoint) gets charges whose
`balance_transaction` is null, as Stripe can report for some payment methods at
checkout.session.completed; `settle` attaches it later and emits `charge.updated`.
A refund takes its amount back (a `refund` transaction, no fee returned); a refunded
application fee comes back as an `application_fee_refund` transaction.
"""

from __future__ import annotations

from typing import Any

from .money import USD_VALUE, ZERO_DECIMAL, convert
from .params import StripeError, as_int, as_str, no_such
from .store import Effects, Settings, Store, new_id, now

AVAILABLE_AFTER = 2 * 24 * 3600


def stripe_fee(amount: int, currency: str) -> int:
    """Stripe's card processing fee in the settlement currency's minor units (rounded
    half up): 2.9 % + 30 (¢, p, …); 3.6 % for zero-decimal currencies."""
    if currency in ZERO_DECIMAL:
        return (amount * 36 + 500) // 1000
    return (amount * 29 + 500) // 1000 + 30


def _settlement(acct: dict[str, Any] | None, currency: str) -> str:
    target = (acct or {}).get("default_currency") or currency
    return target if target in USD_VALUE and currency in USD_VALUE else currency


def _transaction(
    store: Store,
    *,
    account: str,
    amount: int,
    currency: str,
    type: str,
    source: str,
    description: str | None,
    fee_details: list[dict[str, Any]],
    exchange_rate: float | None = None,
    available_on: int | None = None,
    reporting_category: str | None = None,
    txn_id: str | None = None,
) -> dict[str, Any]:
    created = now()
    fee = sum(item["amount"] for item in fee_details)
    return store.put(
        "balance_transactions",
        {
            "id": txn_id or new_id("txn_"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": available_on if available_on is not None else created,
            "balance_type": "payments",
            "created": created,
            "currency": currency,
            "description": description,
            "exchange_rate": exchange_rate,
            "fee": fee,
            "fee_details": fee_details,
            "net": amount - fee,
            "reporting_category": reporting_category or type,
            "source": source,
            "status": "pending",
            "type": type,
            "_account": account,
        },
    )


def charge_settle(store: Store, charge: dict[str, Any]) -> dict[str, Any]:
    """The charge's balance transaction on its account (made once)."""
    existing = store.get("balance_transactions", charge.get("balance_transaction") or "")
    if existing is not None:
        return existing
    acct = store.get("accounts", charge["_account"])
    currency = _settlement(acct, charge["currency"])
    amount, app_fee, rate = charge["amount"], charge.get("application_fee_amount") or 0, None
    if currency != charge["currency"]:
        amount = convert(charge["amount"], charge["currency"], currency) or 0
        app_fee = convert(app_fee, charge["currency"], currency) or 0
        rate = round(USD_VALUE[charge["currency"]] / USD_VALUE[currency], 6)
    fee_details = [
        {
            "amount": stripe_fee(amount, currency),
            "application": None,
            "currency": currency,
            "description": "Stripe processing fees",
            "type": "stripe_fee",
        }
    ]
    if app_fee:
        fee_details.append(
            {
                "amount": app_fee,
                "application": store.platform["id"],
                "currency": currency,
                "description": f"{store.platform['name']} application fee",
                "type": "application_fee",
            }
        )
    txn = _transaction(
        store,
        account=charge["_account"],
        amount=amount,
        currency=currency,
        type="charge",
        source=charge["id"],
        description=charge.get("description"),
        fee_details=fee_details,
        exchange_rate=rate,
        available_on=now() + AVAILABLE_AFTER,
        txn_id=charge.get("balance_transaction") or None,
    )
    charge["balance_transaction"] = txn["id"]
    return txn


def charge_settle_later(store: Store, charge: dict[str, Any]) -> None:
    """At the charge: its transaction now, or none yet for an account set to settle later."""
    acct = store.get("accounts", charge["_account"]) or {}
    if acct.get("_settle_later"):
        charge["balance_transaction"] = None
        return
    charge_settle(store, charge)


def settle_now(store: Store, settings: Settings, fx: Effects, charge_id: str) -> dict[str, Any]:
    """Control: attach a late balance transaction; Stripe says so with charge.updated."""
    charge = store.get("charges", charge_id)
    if charge is None:
        raise no_such("charge", charge_id)
    if charge.get("balance_transaction") and store.get(
        "balance_transactions", charge["balance_transaction"]
    ):
        return charge
    charge_settle(store, charge)
    store.emit(
        settings,
        fx,
        "charge.updated",
        charge,
        account=charge["_account"],
        previous_attributes={"balance_transaction": None},
    )
    return charge


def refund_settle(
    store: Store, refund: dict[str, Any], charge: dict[str, Any], fee_refunded: int
) -> None:
    charge_txn = store.get("balance_transactions", charge.get("balance_transaction") or "")
    currency = charge_txn["currency"] if charge_txn else charge["currency"]
    amount = refund["amount"]
    if currency != charge["currency"]:
        amount = convert(amount, charge["currency"], currency) or 0
        fee_refunded = convert(fee_refunded, charge["currency"], currency) or 0
    txn = _transaction(
        store,
        account=charge["_account"],
        amount=-amount,
        currency=currency,
        type="refund",
        source=refund["id"],
        description="REFUND FOR CHARGE",
        fee_details=[],
        txn_id=refund.get("balance_transaction"),
    )
    refund["balance_transaction"] = txn["id"]
    if fee_refunded:
        _transaction(
            store,
            account=charge["_account"],
            amount=fee_refunded,
            currency=currency,
            type="application_fee_refund",
            source=new_id("fr_"),
            description="Application fee refund",
            fee_details=[],
            reporting_category="platform_earning_refund",
        )


def _status(txn: dict[str, Any], at: int) -> str:
    return "available" if txn["available_on"] <= at else "pending"


def transaction_view(txn: dict[str, Any]) -> dict[str, Any]:
    """A transaction as the API shows it now (its status follows `available_on`)."""
    txn["status"] = _status(txn, now())
    return txn


def balance(store: Store, account: str, *, livemode: bool) -> dict[str, Any]:
    """GET /v1/balance for one account: pending and available per currency (card)."""
    at = now()
    acct = store.get("accounts", account) or {}
    available: dict[str, int] = {}
    pending: dict[str, int] = {}
    default = acct.get("default_currency") or "usd"
    available[default] = pending[default] = 0
    for txn in store.data["balance_transactions"].values():
        if txn["_account"] != account:
            continue
        bucket = available if _status(txn, at) == "available" else pending
        available.setdefault(txn["currency"], 0)
        pending.setdefault(txn["currency"], 0)
        bucket[txn["currency"]] += txn["net"]

    def rows(amounts: dict[str, int]) -> list[dict[str, Any]]:
        return [
            {"amount": amount, "currency": currency, "source_types": {"card": amount}}
            for currency, amount in sorted(amounts.items())
        ]

    return {
        "object": "balance",
        "available": rows(available),
        "connect_reserved": [{"amount": 0, "currency": c} for c in sorted(available)],
        "livemode": livemode,
        "pending": rows(pending),
        "refund_and_dispute_prefunding": None,
    }


def make_available(store: Store, settings: Settings, fx: Effects, account: str) -> None:
    """Control: the account's pending funds become available (time passing), with the
    `balance.available` event Stripe sends then."""
    at = now()
    for txn in store.data["balance_transactions"].values():
        if txn["_account"] == account and txn["available_on"] > at:
            txn["available_on"] = at
    store.mark_dirty()
    store.emit(settings, fx, "balance.available", balance(store, account, livemode=False),
               account=account)  # fmt: skip


PAYOUT_STATUSES = ("paid", "pending", "in_transit", "canceled", "failed")


def payout_create(
    store: Store, settings: Settings, fx: Effects, account: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Control: an automatic payout of the available balance (or `amount`) to the bank."""
    acct = store.get("accounts", account)
    if acct is None:
        raise no_such("account", account)
    currency = as_str(data.get("currency") or acct.get("default_currency") or "usd", "currency")
    status = as_str(data.get("status") or "paid", "status")
    if status not in PAYOUT_STATUSES:
        raise StripeError(400, f"status must be one of {', '.join(PAYOUT_STATUSES)}")
    current = balance(store, account, livemode=False)
    available = next((r["amount"] for r in current["available"] if r["currency"] == currency), 0)
    amount = as_int(data["amount"], "amount") if data.get("amount") else available
    if amount <= 0 or amount > available:
        raise StripeError(
            400,
            "You have insufficient funds in your Stripe account for this transfer.",
            code="balance_insufficient",
        )
    created = now()
    payout_id = new_id("po_")
    txn = _transaction(
        store,
        account=account,
        amount=-amount,
        currency=currency,
        type="payout",
        source=payout_id,
        description="STRIPE PAYOUT",
        fee_details=[],
    )
    payout = store.put(
        "payouts",
        {
            "id": payout_id,
            "object": "payout",
            "amount": amount,
            "application_fee": None,
            "application_fee_amount": None,
            "arrival_date": int(data.get("arrival_date") or created + 2 * 24 * 3600),
            "automatic": True,
            "balance_transaction": txn["id"],
            "created": created,
            "currency": currency,
            "description": "STRIPE PAYOUT",
            "destination": acct.setdefault("_bank_account", new_id("ba_")),
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "livemode": bool(acct.get("livemode")),
            "metadata": {},
            "method": "standard",
            "original_payout": None,
            "reconciliation_status": "completed" if status == "paid" else "not_applicable",
            "reversed_by": None,
            "source_type": "card",
            "statement_descriptor": None,
            "status": status,
            "trace_id": {"status": "pending", "value": None},
            "type": "bank_account",
            "_account": account,
        },
    )
    store.emit(settings, fx, "payout.created", payout, account=account)
    if status == "paid":
        store.emit(settings, fx, "payout.paid", payout, account=account)
    return payout
