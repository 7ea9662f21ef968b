"""Console actions. Each one changes state through the owning app's service and writes
one AuditEntry in the same transaction: the change and its record commit or roll back
together. An action that changes nothing (suspending a suspended store) raises
ValidationError and records nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from payments.platform.models import ConnectedAccount, StripeEvent
from payments.services import store_checkouts_expire_queue
from payments.webhooks import event_retry
from sellers.handoff import admin_view_url
from tenants.models import Store
from tenants.services import store_restore, store_set_fee, store_suspend
from tenants.validators import fee_validate

from .models import AuditEntry

if TYPE_CHECKING:
    from sellers.models import User

# One click retries at most this many events; the rest wait for the next click (or the
# beat schedule, which retries failed events on its own).
RETRY_ALL_LIMIT = 1000
RETRY_ALL_IDS_RECORDED = 100


def _audit(
    *,
    actor: User,
    action: str,
    store: Store | None = None,
    store_id: int | None = None,
    target: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor,
        action=action,
        store_id=store.pk if store is not None else store_id,
        target=target[:200],
        before=before or {},
        after=after or {},
    )


def _locked_store(store: Store) -> Store:
    return Store.objects.select_for_update().get(pk=store.pk)


def _status(store: Store) -> dict[str, Any]:
    return {"status": store.status, "suspended_reason": store.suspended_reason}


def _fee_values(percent: Decimal | None, fixed: int | None) -> dict[str, Any]:
    # JSON-friendly: the percent as a string with its 2 decimals, None for "default".
    shown = None if percent is None else str(Decimal(percent).quantize(Decimal("0.01")))
    return {"fee_percent": shown, "fee_fixed": fixed}


def _fee(store: Store) -> dict[str, Any]:
    return _fee_values(store.fee_percent, store.fee_fixed)


def console_store_suspend(*, actor: User, store: Store, reason: str) -> Store:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the store is suspended; the seller sees it."})
    with transaction.atomic():
        locked = _locked_store(store)
        if not locked.is_active:
            raise ValidationError("This store is already suspended.")
        before = _status(locked)
        changed = store_suspend(store=locked, reason=reason)
        _audit(
            actor=actor,
            action=AuditEntry.Action.STORE_SUSPEND,
            store=changed,
            target=changed.subdomain,
            before=before,
            after=_status(changed),
        )
        # Once this commits, a task expires the store's open Checkout Sessions at Stripe
        # (no Stripe call inside this transaction); payments that still complete are
        # refunded by the webhook.
        store_checkouts_expire_queue(store=changed)
    return changed


def console_store_restore(*, actor: User, store: Store) -> Store:
    with transaction.atomic():
        locked = _locked_store(store)
        if locked.is_active:
            raise ValidationError("This store is already active.")
        before = _status(locked)
        changed = store_restore(store=locked)
        _audit(
            actor=actor,
            action=AuditEntry.Action.STORE_RESTORE,
            store=changed,
            target=changed.subdomain,
            before=before,
            after=_status(changed),
        )
    return changed


def console_store_set_fee(
    *, actor: User, store: Store, fee_percent: Decimal | None, fee_fixed: int | None
) -> Store:
    """Set (or clear, with None) a store's fee override. Past sales keep their fee: the
    ledger and each purchase record the fee used at the time."""
    percent, fixed = fee_validate(fee_percent=fee_percent, fee_fixed=fee_fixed)
    with transaction.atomic():
        locked = _locked_store(store)
        before = _fee(locked)
        if before == _fee_values(percent, fixed):
            raise ValidationError(
                "That is already the fee in force for this store; nothing changed."
            )
        changed = store_set_fee(store=locked, fee_percent=percent, fee_fixed=fixed)
        _audit(
            actor=actor,
            action=AuditEntry.Action.STORE_FEE,
            store=changed,
            target=changed.subdomain,
            before=before,
            after=_fee(changed),
        )
    return changed


def console_impersonation_start(*, actor: User, store: Store) -> str:
    """Record that an admin opens a store's dashboard (read-only) and return where to go:
    the dashboard on the store's platform subdomain, through a read-only sign-in hand-off
    where the admin's cookie does not reach (sellers.handoff.admin_view_url). Each page
    the admin then views is recorded too (console_store_view_record)."""
    url = f"{store.url}/dashboard/"
    with transaction.atomic():
        _audit(
            actor=actor,
            action=AuditEntry.Action.STORE_IMPERSONATE,
            store=store,
            target=store.subdomain,
            before={},
            after={"url": url, "read_only": True},
        )
    return admin_view_url(user=actor, store=store, path="/dashboard/")


def console_store_view_record(*, actor: User, store: Store, path: str, method: str) -> AuditEntry:
    """One page of a store's dashboard an admin looked at (read-only): who, which, when.

    Registered with tenants.hooks, which the dashboard's access decorator calls."""
    return _audit(
        actor=actor,
        action=AuditEntry.Action.STORE_VIEW,
        store_id=store.pk,
        target=store.subdomain,
        after={"path": path, "method": method},
    )


_RETRYABLE = (StripeEvent.Status.FAILED, StripeEvent.Status.PENDING)


def console_event_retry(*, actor: User, event: StripeEvent) -> StripeEvent:
    """Queue one failed (or stuck pending) event again."""
    with transaction.atomic():
        locked = StripeEvent.objects.select_for_update().defer("payload").get(pk=event.pk)
        if locked.status not in _RETRYABLE:
            raise ValidationError(
                f"Only failed or stuck events can be retried; this one is “{locked.get_status_display()}”."
            )
        error_lines = [line.strip() for line in locked.last_error.splitlines() if line.strip()]
        before = {
            "status": locked.status,
            "attempts": locked.attempts,
            # The line that says what went wrong; the full traceback stays on the event.
            "last_error": error_lines[-1][:300] if error_lines else "",
        }
        event_retry(event=locked)
        store_id = (
            ConnectedAccount.objects.filter(stripe_account_id=locked.account_id)
            .values_list("store_id", flat=True)
            .first()
            if locked.account_id
            else None
        )
        _audit(
            actor=actor,
            action=AuditEntry.Action.EVENT_RETRY,
            store_id=store_id,
            target=f"{locked.event_id} {locked.type}",
            before=before,
            after={"status": StripeEvent.Status.PENDING},
        )
        locked.status = StripeEvent.Status.PENDING
    return locked


def console_events_retry_failed(*, actor: User) -> int:
    """Queue every failed event again (up to RETRY_ALL_LIMIT per call); how many."""
    with transaction.atomic():
        events = list(
            StripeEvent.objects.select_for_update(skip_locked=True)
            .filter(status=StripeEvent.Status.FAILED)
            .only("pk", "status", "event_id")
            .order_by("received_at", "pk")[:RETRY_ALL_LIMIT]
        )
        if not events:
            return 0
        for event in events:
            event_retry(event=event)
        _audit(
            actor=actor,
            action=AuditEntry.Action.EVENTS_RETRY_FAILED,
            target=f"{len(events)} failed event{'s' if len(events) != 1 else ''}",
            before={"status": StripeEvent.Status.FAILED, "count": len(events)},
            after={
                "status": StripeEvent.Status.PENDING,
                "count": len(events),
                "event_ids": [e.event_id for e in events[:RETRY_ALL_IDS_RECORDED]],
            },
        )
    return len(events)
