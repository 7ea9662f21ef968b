"""What each Stripe event does. The webhook view only verifies and records; the inbox
task calls `event_process`, which finds the store and runs the handler in its schema.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from config import metrics
from config.logs import log_bind
from payments.platform.models import ConnectedAccount, StripeEvent
from payments.platform.services import (
    MAX_ATTEMPTS,
    connected_account_deauthorize,
    connected_account_sync,
    event_backoff,
)

from . import services, stripe_client
from .stripe_client import Account, CheckoutSession

logger = logging.getLogger(__name__)


class Ignored(Exception):
    """The event is genuine but not for us (unknown account, unpaid session…)."""


def _store_for(event: dict[str, Any]):
    account_id = event.get("account") or ""
    row = (
        ConnectedAccount.objects.select_related("store")
        .filter(stripe_account_id=account_id)
        .first()
    )
    if row is None:
        raise Ignored(f"No store for account {account_id!r}.")
    return row.store


def on_account_updated(event: dict[str, Any]) -> str:
    obj = event["data"]["object"]
    if not ConnectedAccount.objects.filter(stripe_account_id=obj.get("id")).exists():
        raise Ignored("Unknown account.")
    # Events can arrive out of order: take Stripe's current view, not the event's snapshot.
    try:
        account = stripe_client.account_retrieve(obj["id"])
    except stripe_client.StripeFailure as exc:
        if exc.retryable:
            raise
        account = Account.from_stripe(obj)
    connected_account_sync(account=account)
    return "account synced"


def on_account_deauthorized(event: dict[str, Any]) -> str:
    if connected_account_deauthorize(account_id=event.get("account") or "") is None:
        raise Ignored("Unknown account.")
    return "account deauthorized"


def on_checkout_completed(event: dict[str, Any]) -> str:
    store = _store_for(event)
    session = CheckoutSession.from_stripe(event["data"]["object"])
    if not session.is_paid:
        raise Ignored("Session not paid yet (async payment pending).")
    with schema_context(store.schema_name):
        if session.payment_intent_id and session.application_fee_amount is None:
            # The event carries the payment intent as an id: fetch the fee Stripe applied.
            session = stripe_client.checkout_session_retrieve(
                account_id=event["account"], session_id=session.id
            )
        try:
            purchase, created = services.purchase_fulfil(store=store, session=session)
        except services.NotOurs as exc:
            raise Ignored(str(exc)) from exc
    return f"purchase {'created' if created else 'exists'} {purchase.uid}"


def on_payment_intent_succeeded(event: dict[str, Any]) -> str:
    """Backstop: find the session of a paid payment intent that has no purchase yet."""
    store = _store_for(event)
    pi = event["data"]["object"]
    with schema_context(store.schema_name):
        from .models import Purchase

        if Purchase.objects.filter(payment_intent_id=pi["id"]).exists():
            return "purchase exists"
        sessions = stripe_client.checkout_sessions_for_payment_intent(
            account_id=event["account"], payment_intent_id=pi["id"]
        )
        for session in sessions:
            if session.is_paid and session.metadata.get("store") == store.schema_name:
                services.purchase_fulfil(store=store, session=session)
                return "purchase created from payment intent"
    return "no paid session for this payment intent"


def on_charge_refunded(event: dict[str, Any]) -> str:
    store = _store_for(event)
    charge = event["data"]["object"]
    full = bool(charge.get("refunded")) or charge.get("amount_refunded", 0) >= charge.get(
        "amount", 1
    )
    if not full:
        metrics.refund(outcome="partial")
        return "partial refund: access kept"
    with schema_context(store.schema_name):
        services.charge_state_record(
            payment_intent_id=charge.get("payment_intent") or "",
            charge_id=charge.get("id", ""),
            refunded=True,
        )
    return "refund recorded"


def on_dispute(event: dict[str, Any]) -> str:
    store = _store_for(event)
    dispute = event["data"]["object"]
    status = dispute.get("status") or "needs_response"
    with schema_context(store.schema_name):
        services.charge_state_record(
            payment_intent_id=dispute.get("payment_intent") or "",
            charge_id=dispute.get("charge") or "",
            dispute_status=status,
        )
    return f"dispute {status} recorded"


HANDLERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "account.updated": on_account_updated,
    "account.application.deauthorized": on_account_deauthorized,
    "checkout.session.completed": on_checkout_completed,
    "checkout.session.async_payment_succeeded": on_checkout_completed,
    "payment_intent.succeeded": on_payment_intent_succeeded,
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": on_dispute,
    "charge.dispute.updated": on_dispute,
    "charge.dispute.closed": on_dispute,
}


def event_process(event_pk: int) -> str:
    """Process one inbox event once. Concurrent calls: one works, the others skip."""
    with transaction.atomic():
        row = StripeEvent.objects.select_for_update(skip_locked=True).filter(pk=event_pk).first()
        if row is None:
            return "busy or gone"
        if row.status in (StripeEvent.Status.DONE, StripeEvent.Status.IGNORED):
            return "already processed"
        log_bind(event_id=row.event_id)
        handler = HANDLERS.get(row.type)
        row.attempts += 1
        try:
            if handler is None:
                raise Ignored(f"No handler for {row.type}.")
            with transaction.atomic():
                outcome = handler(row.payload)
            row.status, row.last_error, row.next_attempt_at = StripeEvent.Status.DONE, "", None
        except Ignored as exc:
            outcome = f"ignored: {exc}"
            row.status, row.last_error, row.next_attempt_at = (
                StripeEvent.Status.IGNORED,
                str(exc),
                None,
            )
        except Exception as exc:  # keep the event and retry later; the inbox shows why
            logger.exception("Stripe event %s failed", row.event_id)
            outcome = f"failed: {exc}"
            row.status = StripeEvent.Status.FAILED
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            row.next_attempt_at = (
                timezone.now() + event_backoff(row.attempts)
                if row.attempts < MAX_ATTEMPTS
                else None
            )
        row.processed_at = timezone.now()
        row.save()
    metrics.webhook_processed(
        event_type=row.type, result=row.status, created=row.payload.get("created")
    )
    return outcome
