"""Public-schema payments state: the account → store map, the event inbox, the ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.utils import timezone

from payments.stripe_client import Account
from tenants import cells, prepared
from tenants.models import Store
from tenants.services import store_set_charges

from .models import ConnectedAccount, FeeLedgerEntry, PaymentIncident, StripeEvent


def connected_account_for(store: Store) -> ConnectedAccount | None:
    """The store's account row, read fresh on every call (a checkout refuses an account
    whose charges were switched off or that was disconnected the moment either is
    written): one prepared statement (tenants.prepared), as it runs on every checkout.
    `store_id` is unique (one account per store)."""
    return prepared.model_get(
        DEFAULT_DB_ALIAS, "connected_account", ConnectedAccount, '"store_id" = %s', [store.pk]
    )


def settlement_currency_active_store() -> str | None:
    """catalog.hooks provider: the currency the active store's Stripe account settles in."""
    from django.db import connection

    schema = getattr(connection, "schema_name", "")
    if not schema:
        return None
    row = (
        ConnectedAccount.objects.filter(store__schema_name=schema, deauthorized_at__isnull=True)
        .values_list("default_currency", flat=True)
        .first()
    )
    return row or None


def connected_account_link(*, store: Store, account: Account) -> ConnectedAccount:
    """Remember which Stripe account belongs to a store (once)."""
    ConnectedAccount.objects.get_or_create(
        store_id=store.pk, defaults={"stripe_account_id": account.id}
    )
    return connected_account_sync(account=account)


def _blocked_reason(account: Account) -> str:
    if account.charges_enabled:
        return ""
    if not account.details_submitted:
        return "Finish connecting your Stripe account to start selling."
    return "Stripe needs more information before this store can take payments."


def connected_account_sync(*, account: Account) -> ConnectedAccount:
    """Store Stripe's view of an account and tell tenants whether the store can charge."""
    with transaction.atomic():
        row = ConnectedAccount.objects.select_for_update().get(stripe_account_id=account.id)
        if row.deauthorized_at:
            return row  # a disconnected account stays disconnected until reconnected
        row.charges_enabled = account.charges_enabled
        row.payouts_enabled = account.payouts_enabled
        row.details_submitted = account.details_submitted
        row.requirements_due = account.requirements_due
        row.disabled_reason = account.disabled_reason[:120]
        row.country = account.country[:2] or row.country
        row.default_currency = account.default_currency[:3] or row.default_currency
        row.requirements_deadline = (
            datetime.fromtimestamp(account.requirements_deadline, tz=UTC)
            if account.requirements_deadline
            else None
        )
        row.save()
        store_set_charges(
            store_id=row.store_id,
            can_take_charges=account.charges_enabled,
            reason=_blocked_reason(account),
        )
    return row


def connected_account_deauthorize(*, account_id: str) -> ConnectedAccount | None:
    with transaction.atomic():
        row = (
            ConnectedAccount.objects.select_for_update()
            .filter(stripe_account_id=account_id)
            .first()
        )
        if row is None:
            return None
        if not row.deauthorized_at:
            row.deauthorized_at = timezone.now()
            row.charges_enabled = False
            row.payouts_enabled = False
            row.save()
        store_set_charges(
            store_id=row.store_id,
            can_take_charges=False,
            reason="The Stripe account was disconnected from the platform. Reconnect to sell again.",
        )
    return row


def connected_account_access_revoked(account_id: str) -> None:
    """Stripe refused us an account (403): disconnect it, exactly as deauthorization does."""
    connected_account_deauthorize(account_id=account_id)


def connected_account_forget(*, store: Store) -> None:
    """Drop a deauthorized account so the seller can connect a new one."""
    ConnectedAccount.objects.filter(store_id=store.pk, deauthorized_at__isnull=False).delete()


# --- Event inbox --------------------------------------------------------------------------


def event_record(event: dict[str, Any]) -> tuple[StripeEvent, bool]:
    """Insert the event once by id; (row, created). Replays with a new body change nothing."""
    try:
        with transaction.atomic():
            row = StripeEvent.objects.create(
                event_id=event["id"],
                type=str(event.get("type", ""))[:100],
                account_id=str(event.get("account") or "")[:64],
                livemode=bool(event.get("livemode")),
                payload=event,
                # If the queued task never runs (broker down, worker lost), the beat
                # schedule picks the event up after this.
                next_attempt_at=timezone.now() + timedelta(minutes=2),
            )
            return row, True
    except IntegrityError:
        return StripeEvent.objects.get(event_id=event["id"]), False


# --- Fee ledger ---------------------------------------------------------------------------


def ledger_entry_record(
    *,
    store_id: int,
    checkout_session_id: str,
    payment_intent_id: str,
    purchase_uid: uuid.UUID,
    product_title: str,
    amount: int,
    platform_fee: int,
    currency: str,
    fee_percent: Decimal | str,
    fee_fixed: int,
    status: str,
    created_at: datetime,
    discount_code: str = "",
    discount: int = 0,
) -> None:
    """The ledger row of one sale (callers write it in the purchase's transaction).

    The ledger is in the control database; a store in another cell writes it through the
    cell's outbox (tenants.cells): in the purchase's cell transaction, applied once by key.
    """
    cells.outbox_write(
        LEDGER_ENTRY,
        {
            "store_id": store_id,
            "checkout_session_id": checkout_session_id,
            "payment_intent_id": payment_intent_id or "",
            "purchase_uid": str(purchase_uid),
            "product_title": product_title[:140],
            "amount": amount,
            "platform_fee": platform_fee,
            "currency": currency,
            "fee_percent": str(fee_percent),
            "fee_fixed": fee_fixed,
            "status": status,
            "created_at": created_at.isoformat(),
            "discount_code": discount_code,
            "discount": discount,
        },
    )


def _ledger_entry_apply(payload: dict) -> None:
    """Idempotent by the Checkout Session id: a second apply finds the row and adds none."""
    fields = dict(payload)
    session_id = fields.pop("checkout_session_id")
    fields["purchase_uid"] = uuid.UUID(fields["purchase_uid"])
    fields["fee_percent"] = Decimal(fields["fee_percent"])
    fields["created_at"] = datetime.fromisoformat(fields["created_at"])
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            FeeLedgerEntry.objects.get_or_create(checkout_session_id=session_id, defaults=fields)
    except IntegrityError:
        # Written at the same instant by another applier: that row is the one.
        if not FeeLedgerEntry.objects.filter(checkout_session_id=session_id).exists():
            raise


def ledger_status_set(*, checkout_session_id: str, status: str) -> None:
    cells.outbox_write(
        LEDGER_STATUS, {"checkout_session_id": checkout_session_id, "status": status}
    )


def _ledger_status_apply(payload: dict) -> None:
    FeeLedgerEntry.objects.filter(checkout_session_id=payload["checkout_session_id"]).update(
        status=payload["status"], updated_at=timezone.now()
    )


def ledger_refunds_set(
    *, checkout_session_id: str, amount_refunded: int, fee_refunded: int
) -> None:
    """A purchase's refunds so far (totals, not increments: repeating it changes nothing).
    Through the cell's outbox like the other ledger writes."""
    cells.outbox_write(
        LEDGER_REFUNDS,
        {
            "checkout_session_id": checkout_session_id,
            "amount_refunded": amount_refunded,
            "fee_refunded": fee_refunded,
        },
    )


def _ledger_refunds_apply(payload: dict) -> None:
    FeeLedgerEntry.objects.filter(checkout_session_id=payload["checkout_session_id"]).update(
        amount_refunded=payload["amount_refunded"],
        fee_refunded=payload["fee_refunded"],
        updated_at=timezone.now(),
    )


LEDGER_ENTRY = "ledger.entry"
LEDGER_STATUS = "ledger.status"
LEDGER_REFUNDS = "ledger.refunds"
cells.register_outbox_handler(LEDGER_ENTRY, _ledger_entry_apply)
cells.register_outbox_handler(LEDGER_STATUS, _ledger_status_apply)
cells.register_outbox_handler(LEDGER_REFUNDS, _ledger_refunds_apply)


# --- Payments the platform did not deliver ------------------------------------------------


def incident_record(
    *,
    kind: str,
    checkout_session_id: str,
    store_id: int | None,
    account_id: str = "",
    payment_intent_id: str = "",
    amount: int = 0,
    currency: str = "",
    fee: int | None = None,
    buyer_email: str = "",
    detail: str = "",
) -> PaymentIncident:
    """Once per Checkout Session: the first report wins, repeats return it."""
    try:
        with transaction.atomic():
            return PaymentIncident.objects.create(
                kind=kind,
                checkout_session_id=checkout_session_id,
                store_id=store_id,
                account_id=account_id[:64],
                payment_intent_id=payment_intent_id or "",
                amount=amount,
                currency=currency,
                fee=fee,
                buyer_email=buyer_email,
                detail=detail[:500],
            )
    except IntegrityError:
        return PaymentIncident.objects.get(checkout_session_id=checkout_session_id)


def incident_refunded(*, incident_id: int, refund_id: str) -> None:
    PaymentIncident.objects.filter(pk=incident_id).update(refund_id=refund_id)


def incident_mark_notified(*, incident_id: int) -> None:
    PaymentIncident.objects.filter(pk=incident_id).update(buyer_notified_at=timezone.now())
