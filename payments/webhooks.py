"""Stripe webhooks, end to end: the endpoint, the inbox tasks, the handler table.

    POST /stripe/webhook/  → `stripe_webhook`: verify the signature, record the event once
                              by id (payments.platform's inbox), answer 2xx at once
    process_event (task)   → `event_process`: claim the event, run its handler in the
                              store's schema, record the outcome; failures back off
    retry_failed_events    → beat: queue events whose backoff has passed (or whose worker
                              died mid-way); the console's retry button uses `event_retry`

Claiming holds no transaction open: handlers call Stripe, and a row lock held for a
10 s Stripe timeout would block every other delivery behind it. The claim is a session
advisory lock (payments.locks), released with the connection if the worker dies; each
handler writes in short transactions of its own, and every write is idempotent, so a
repeat (a redelivered task, a duplicate event, the thank-you page racing the webhook)
finds the work done.

Events whose `livemode` differs from our key's mode are recorded as ignored: Stripe sends
a connected account's test-mode events to the live Connect endpoint too (STRIPE-FACTS 2.11).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_tenants.utils import schema_context

from config import metrics
from config.logs import log_bind
from payments.platform.models import ConnectedAccount, StripeEvent
from payments.platform.services import (
    connected_account_deauthorize,
    connected_account_sync,
    event_record,
)
from tenants.models import Store

from . import refunds, services, stripe_client
from .locks import claimed
from .models import CheckoutRecord, Purchase
from .stripe_client import Account, CheckoutSession

logger = logging.getLogger(__name__)

MAX_BODY = 512 * 1024  # Stripe events are a few KB; anything huge is not Stripe
MAX_ATTEMPTS = 8


class Ignored(Exception):
    """The event is genuine but not for us (unknown account, unpaid session…)."""


# --- The endpoint ---------------------------------------------------------------------------


def _enqueue(pk: int) -> None:
    try:
        process_event.delay(pk)
    except Exception:  # broker down: the event is safe in the inbox; beat retries it
        logger.exception("Could not queue Stripe event %s", pk)


def webhook_secret(endpoint: str) -> str:
    """The signing secret of one of the two endpoints registered at Stripe (each has its
    own): "connect" (connected accounts' events) or "account" (the platform's own)."""
    if endpoint == "account":
        return settings.STRIPE_ACCOUNT_WEBHOOK_SECRET
    return settings.STRIPE_CONNECT_WEBHOOK_SECRET or settings.STRIPE_WEBHOOK_SECRET


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest, endpoint: str = "connect") -> HttpResponse:
    """Verify, record once, answer fast; a task does the work in the store's schema."""
    secret = webhook_secret(endpoint)
    if not secret:  # an endpoint this deployment has not configured accepts nothing
        metrics.webhook_received(outcome="bad_signature")
        return JsonResponse({"error": "invalid signature"}, status=400)
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY:
        metrics.webhook_received(outcome="too_large")
        return JsonResponse({"error": "payload too large"}, status=413)
    try:
        event = stripe_client.webhook_verify(
            payload=request.body,
            signature=request.headers.get("Stripe-Signature", ""),
            secret=secret,
        )
    except ValueError:
        metrics.webhook_received(outcome="bad_signature")
        return JsonResponse({"error": "invalid signature"}, status=400)
    log_bind(event_id=event.get("id", ""))
    row, created = event_record(event)
    metrics.webhook_received(outcome="recorded" if created else "duplicate")
    if created:
        transaction.on_commit(lambda: _enqueue(row.pk))
    return JsonResponse({"received": True, "duplicate": not created})


# --- Handlers -------------------------------------------------------------------------------


def _store_for(event: dict[str, Any]) -> Store:
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


def _fulfil(store: Store, session: CheckoutSession) -> str:
    try:
        purchase, created = services.purchase_fulfil(store=store, session=session)
    except services.NotOurs as exc:
        raise Ignored(str(exc)) from exc
    except services.StoreSuspended as exc:
        return f"refunded: {exc}"
    return f"purchase {'created' if created else 'exists'} {purchase.uid}"


def on_checkout_completed(event: dict[str, Any]) -> str:
    store = _store_for(event)
    session = CheckoutSession.from_stripe(event["data"]["object"])
    if not session.is_paid:
        raise Ignored("Session not paid yet (async payment pending).")
    with schema_context(store.schema_name):
        if Purchase.objects.filter(checkout_session_id=session.id).exists():
            metrics.purchase(outcome="existing")
            return "purchase exists"
        recorded = CheckoutRecord.objects.filter(session_id=session.id).exists()
        if recorded and session.application_fee_amount is None:
            # The payload carries the PaymentIntent as an id: ask Stripe for the session
            # with its PaymentIntent expanded, for the application fee Stripe applied.
            session = stripe_client.checkout_session_retrieve(
                account_id=event["account"], session_id=session.id
            )
        return _fulfil(store, session)


def on_checkout_expired(event: dict[str, Any]) -> str:
    store = _store_for(event)
    session_id = event["data"]["object"].get("id") or ""
    with schema_context(store.schema_name):
        changed = CheckoutRecord.objects.filter(
            session_id=session_id, status=CheckoutRecord.Status.OPEN
        ).update(status=CheckoutRecord.Status.EXPIRED)
    return "session expired" if changed else "no open session recorded"


def on_payment_intent_succeeded(event: dict[str, Any]) -> str:
    """Backstop: find the session of a paid payment intent that has no purchase yet."""
    store = _store_for(event)
    pi = event["data"]["object"]
    with schema_context(store.schema_name):
        if Purchase.objects.filter(payment_intent_id=pi["id"]).exists():
            return "purchase exists"
        sessions = stripe_client.checkout_sessions_for_payment_intent(
            account_id=event["account"], payment_intent_id=pi["id"]
        )
        for session in sessions:
            if session.is_paid:
                return _fulfil(store, session)
    return "no paid session for this payment intent"


def on_refund_event(event: dict[str, Any]) -> str:
    """charge.refunded, charge.refund.updated and refund.created/updated/failed: whichever
    comes, in whatever order and however often, record the payment's refunds as Stripe
    has them now (payments.refunds). Partial refunds included: `charge.refunded` is sent
    for every refund, `refunded` on the charge only turns true once all of it is back."""
    store = _store_for(event)
    obj = event["data"]["object"]
    is_charge = obj.get("object") == "charge"
    payment_intent = obj.get("payment_intent") or ""
    if isinstance(payment_intent, dict):
        payment_intent = payment_intent.get("id", "")
    charge_id = obj.get("id", "") if is_charge else obj.get("charge") or ""
    if isinstance(charge_id, dict):
        charge_id = charge_id.get("id", "")
    if not payment_intent:
        raise Ignored("A refund with no PaymentIntent (not a Checkout payment).")
    full = bool(is_charge and obj.get("refunded"))
    with schema_context(store.schema_name):
        if full:
            # Stripe's signed word that all of it is back: access ends now, even while the
            # sync below cannot reach Stripe (then the event fails and is retried). The
            # sync has the last word: a refund that failed since makes it paid again.
            services.charge_state_record(
                payment_intent_id=payment_intent, charge_id=charge_id, refunded=True
            )
        purchase = refunds.refunds_sync(store=store, payment_intent_id=payment_intent)
        if purchase is None:
            # Before its checkout completed here: remembered, and the purchase syncs its
            # refunds when it is made.
            services.charge_state_record(payment_intent_id=payment_intent, charge_id=charge_id)
            return "refund noted: no purchase yet"
    if purchase.amount_refunded and purchase.amount_refunded < purchase.amount:
        metrics.refund(outcome="partial")
    return f"refunds synced: {purchase.amount_refunded} of {purchase.amount} refunded"


def on_charge_updated(event: dict[str, Any]) -> str:
    """A charge's balance transaction can come after the sale: record its fee and net."""
    from .balances import charge_fees_update

    store = _store_for(event)
    with schema_context(store.schema_name):
        return charge_fees_update(store=store, charge=event["data"]["object"])


def on_dispute(event: dict[str, Any]) -> str:
    store = _store_for(event)
    dispute = event["data"]["object"]
    status = dispute.get("status") or "needs_response"
    if dispute.get("id"):
        # Events arrive in any order (a late "under_review" after "won"): act on the
        # dispute as Stripe has it now, not on the event's snapshot.
        try:
            status = (
                stripe_client.dispute_status(account_id=event["account"], dispute_id=dispute["id"])
                or status
            )
        except stripe_client.StripeFailure as exc:
            if exc.retryable:
                raise
    with schema_context(store.schema_name):
        services.charge_state_record(
            payment_intent_id=dispute.get("payment_intent") or "",
            charge_id=dispute.get("charge") or "",
            dispute_status=status,
        )
    return f"dispute {status}: access {services.dispute_access(status)}"


HANDLERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "account.updated": on_account_updated,
    "account.application.deauthorized": on_account_deauthorized,
    "checkout.session.completed": on_checkout_completed,
    "checkout.session.async_payment_succeeded": on_checkout_completed,
    "checkout.session.expired": on_checkout_expired,
    "payment_intent.succeeded": on_payment_intent_succeeded,
    "charge.refunded": on_refund_event,
    "charge.refund.updated": on_refund_event,
    "refund.created": on_refund_event,
    "refund.updated": on_refund_event,
    "refund.failed": on_refund_event,
    "charge.updated": on_charge_updated,
    "charge.dispute.created": on_dispute,
    "charge.dispute.updated": on_dispute,
    "charge.dispute.closed": on_dispute,
}


# --- Processing, retry, backoff -------------------------------------------------------------


def event_backoff(attempts: int) -> timedelta:
    """1, 4, 9, 16… minutes between tries."""
    return timedelta(minutes=max(1, attempts) ** 2)


def _outcome(row: StripeEvent) -> tuple[str, str, str]:
    """Run the event's handler: (status, outcome, last_error). No transaction is open."""
    if row.livemode != stripe_client.key_is_live():
        mode = "live" if row.livemode else "test"
        reason = f"A {mode}-mode event on the {'test' if row.livemode else 'live'} endpoint."
        return StripeEvent.Status.IGNORED, f"ignored: {reason}", reason
    handler = HANDLERS.get(row.type)
    try:
        if handler is None:
            raise Ignored(f"No handler for {row.type}.")
        return StripeEvent.Status.DONE, handler(row.payload), ""
    except Ignored as exc:
        return StripeEvent.Status.IGNORED, f"ignored: {exc}", str(exc)
    except Exception as exc:  # keep the event and retry later; the inbox shows why
        logger.exception("Stripe event %s failed", row.event_id)
        return StripeEvent.Status.FAILED, f"failed: {exc}", f"{type(exc).__name__}: {exc}"


def event_process(*, event_pk: int) -> str:
    """Process one inbox event once. Concurrent calls: one works, the others skip."""
    with claimed(f"stripe-event:{event_pk}") as mine:
        if not mine:
            return "busy"
        row = StripeEvent.objects.filter(pk=event_pk).first()
        if row is None:
            return "gone"
        if row.status in (StripeEvent.Status.DONE, StripeEvent.Status.IGNORED):
            return "already processed"
        log_bind(event_id=row.event_id)
        status, outcome, error = _outcome(row)
        attempts = row.attempts + 1
        retry_at = None
        if status == StripeEvent.Status.FAILED and attempts < MAX_ATTEMPTS:
            retry_at = timezone.now() + event_backoff(attempts)
        StripeEvent.objects.filter(pk=event_pk).update(
            status=status,
            attempts=attempts,
            last_error=error[:2000],
            next_attempt_at=retry_at,
            processed_at=timezone.now(),
        )
    metrics.webhook_processed(
        event_type=row.type, result=status, created=row.payload.get("created")
    )
    return outcome


def event_retry(*, event: StripeEvent) -> None:
    """Put a failed (or stuck) event back in the queue; admins do this from the console."""
    if event.status in (StripeEvent.Status.DONE, StripeEvent.Status.IGNORED):
        raise ValueError("This event was processed already.")
    StripeEvent.objects.filter(pk=event.pk).update(
        status=StripeEvent.Status.PENDING, next_attempt_at=timezone.now() + timedelta(minutes=2)
    )
    pk = event.pk
    transaction.on_commit(lambda: process_event.delay(pk))


def events_retry_due() -> int:
    """Queue failed or never-processed events whose time has come; how many."""
    pks = list(
        StripeEvent.objects.filter(
            status__in=[StripeEvent.Status.FAILED, StripeEvent.Status.PENDING],
            next_attempt_at__lte=timezone.now(),
        ).values_list("pk", flat=True)[:500]
    )
    for pk in pks:
        process_event.delay(pk)
    return len(pks)


# Registered when the payments app loads (PaymentsConfig.ready imports this module).
@shared_task(acks_late=True)
def process_event(event_pk: int) -> str:
    return event_process(event_pk=event_pk)


@shared_task
def retry_failed_events() -> int:
    """Beat: retry failed inbox events whose backoff has passed."""
    return events_retry_due()
