"""Public-schema payments state: the account → store map, the event inbox, the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from payments.stripe_client import Account
from tenants.models import Store
from tenants.services import store_set_charges

from .models import ConnectedAccount, StripeEvent


def connected_account_for(store: Store) -> ConnectedAccount | None:
    return ConnectedAccount.objects.filter(store_id=store.pk).first()


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


MAX_ATTEMPTS = 8


def event_backoff(attempts: int) -> timedelta:
    """1, 4, 9, 16… minutes between tries."""
    return timedelta(minutes=max(1, attempts) ** 2)


def event_retry(*, event: StripeEvent) -> None:
    """Put a failed (or stuck) event back in the queue; admins do this from the console."""
    from .tasks import process_event

    if event.status == StripeEvent.Status.DONE:
        raise ValueError("This event was processed already.")
    StripeEvent.objects.filter(pk=event.pk).update(
        status=StripeEvent.Status.PENDING, next_attempt_at=timezone.now() + timedelta(minutes=2)
    )
    transaction.on_commit(lambda: process_event.delay(event.pk))
