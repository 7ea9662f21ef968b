"""Refunds that talk (issue #12): partial refunds with a reason, told to the buyer once each.

A refund is made on the store's connected account (the charge is a direct charge), either
from the sales list (`refund_request`) or by the seller in their own Stripe Dashboard; we
learn of those through webhooks only. Both end in `refunds_sync`, which asks Stripe for
the payment's refunds as they are now (events arrive late, twice and out of order) and
records them: one `Refund` row per Stripe refund, the purchase's totals, the buyer's access
and the fee ledger.

The platform fee comes back in proportion (STRIPE-FACTS 7.2). With direct charges and
`application_fee_amount`, `refund_application_fee=true` makes Stripe refund "an amount
proportional to the amount of the charge refunded"; a full refund returns the whole fee.
Stripe does not document how the share is rounded, and a refund the seller makes in their
own Dashboard returns none of it (only the application that made the charge can refund
its fee). So we never compute the refunded fee: after every refund we read the charge's
Application Fee (a platform object, `GET /v1/application_fees/{id}` with no
Stripe-Account) and record its `amount_refunded`. The ledger therefore says what Stripe
did, whatever its rounding. `expected_fee_refund` is the rule we expect (the share of the
refunded total, rounded half up, the whole fee once everything is refunded); a difference
from Stripe's figure is logged, never recorded. A refund's own `fee_refunded` is the rise
in Stripe's total that the sync first recording it saw.

Access: a partial refund keeps it, a full one ends it (grant revoked "refunded"). A refund
that fails (`refund.failed`, or any refund Stripe reports as failed or canceled) no longer
counts: the totals drop, and a purchase that was refunded in full is paid again with its
access restored. A fully refunded purchase gives its discount code use back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.template.loader import render_to_string
from django.utils import timezone
from django_tenants.utils import schema_context

from catalog.models import DiscountCode
from catalog.money import CURRENCIES, format_amount
from config import metrics
from payments.platform.services import (
    connected_account_for,
    ledger_refunds_set,
    ledger_status_set,
)
from tenants import cells
from tenants.models import Store

from . import stripe_client
from .locks import claimed
from .models import ChargeState, DownloadGrant, Purchase, Refund

logger = logging.getLogger(__name__)

REASONS = tuple(value for value, _ in Refund.Reason.choices)
_ATTEMPT = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Stripe's refund statuses that return money (or are on the way to); failed and canceled
# return nothing.
_STRIPE_COUNTED = ("pending", "requires_action", "succeeded")


def expected_fee_refund(*, fee: int, amount: int, refunded: int) -> int:
    """The part of `fee` we expect Stripe to return once `refunded` of `amount` is back:
    in proportion, cumulative, rounded half up; all of it for a full refund."""
    if amount <= 0 or refunded >= amount:
        return fee
    return min(fee, (2 * fee * refunded + amount) // (2 * amount))


def refund_amount_read(text: str, currency: str) -> int:
    """What the seller typed ("5", "5.50", "5,50", "$5.50") in minor units, or a
    ValidationError saying why not. No thousands separators: a refund is at most a sale."""
    cur = CURRENCIES.get((currency or "").lower())
    if cur is None:
        raise ValidationError("This sale's currency is not supported.")
    typed = (text or "").strip()
    raw = typed
    for mark in sorted({cur.symbol, cur.code.upper()}, key=len, reverse=True):
        raw = raw.removeprefix(mark).removesuffix(mark).strip()
    if not raw:
        raise ValidationError("Enter the amount to refund.")
    places = cur.exponent
    pattern = r"([0-9]{1,9})" + (rf"(?:[.,]([0-9]{{1,{places}}}))?" if places else "")
    match = re.fullmatch(pattern, raw)
    if match is None:
        example = "5" if places == 0 else "5 or 5.50"
        raise ValidationError(f"“{typed[:30]}” is not an amount: write it like {example}.")
    whole, fraction = match.group(1), (match.group(2) or "") if places else ""
    minor = int(whole) * 10**places + (int(fraction.ljust(places, "0")) if fraction else 0)
    if minor <= 0:
        raise ValidationError("The refund must be more than zero.")
    return minor


def _counted_total(purchase: Purchase) -> int:
    """What the purchase's counted refunds (ours in flight included) add up to."""
    return (
        Refund.objects.filter(purchase=purchase, status__in=Refund.COUNTED).aggregate(
            total=Sum("amount")
        )["total"]
        or 0
    )


def refund_request(
    *,
    store: Store,
    purchase: Purchase,
    amount_text: str,
    reason: str,
    note: str,
    attempt: str,
    refund_application_fee: bool,
) -> tuple[Refund, bool]:
    """A refund of part (or all) of what remains, from the sales list. (refund, made)

    The amount is held first, in a short transaction under the purchase's row lock: two
    clicks with the same form (`attempt`) find one row, and two different forms can never
    refund more than was paid. Stripe is asked with no transaction open, with a key that
    names the row, so a repeated request gets the same refund back. `made` is False when
    this click found the refund an earlier click of the same form made.
    """
    if reason not in REASONS:
        raise ValidationError("Choose a reason for the refund.")
    note = (note or "").strip()
    if len(note) > 500:
        raise ValidationError("The note to the buyer can be at most 500 characters.")
    if not _ATTEMPT.match(attempt or ""):
        raise ValidationError("This form is out of date: reload the page and try again.")
    if not purchase.payment_intent_id:
        raise ValidationError("This sale has no Stripe payment to refund.")
    account = connected_account_for(store)
    if account is None:
        raise ValidationError("This store has no connected Stripe account.")
    amount = refund_amount_read(amount_text, purchase.currency)
    with cells.atomic():
        locked = Purchase.objects.select_for_update().get(pk=purchase.pk)
        mine = Refund.objects.filter(attempt=attempt).first()
        if mine is not None and mine.purchase_id != locked.pk:
            raise ValidationError("This form is out of date: reload the page and try again.")
        if mine is not None and mine.status != Refund.Status.FAILED:
            return mine, False  # a second click of the same form
        if mine is not None and mine.stripe_refund_id:
            # Stripe made it and it failed later: its key would only give that one back.
            raise ValidationError(
                "The refund this form made has failed since; reload the page to refund again."
            )
        held = _counted_total(locked)
        remaining = locked.total_charged - max(locked.amount_refunded, held)
        if remaining <= 0:
            raise ValidationError("This sale has already been refunded in full.")
        if amount > remaining:
            raise ValidationError(
                f"Only {format_amount(remaining, locked.currency)} of this sale is left to "
                f"refund; {format_amount(amount, locked.currency)} is more than that."
            )
        if mine is None:
            mine = Refund(purchase=locked, attempt=attempt)
        mine.amount, mine.reason, mine.note = amount, reason, note
        mine.status, mine.failure_reason = Refund.Status.REQUESTED, ""
        mine.source = Refund.Source.DASHBOARD
        mine.save()
    try:
        info = stripe_client.refund_partial_create(
            account_id=account.stripe_account_id,
            payment_intent_id=locked.payment_intent_id or "",
            amount=amount,
            reason=reason,
            refund_application_fee=refund_application_fee,
            metadata={
                "store": store.schema_name,
                "purchase": str(locked.uid),
                "refund": str(mine.uid),
            },
            key=str(mine.uid),
        )
    except stripe_client.StripeFailure as exc:
        # Not counted any more. Had Stripe made it after all (a timeout after the work),
        # its events bring it back: the sync finds this row by the uid in its metadata.
        Refund.objects.filter(pk=mine.pk, stripe_refund_id__isnull=True).update(
            status=Refund.Status.FAILED, failure_reason=(exc.code or "not_made")[:64]
        )
        metrics.refund(outcome="failed")
        raise
    metrics.refund(outcome="requested")
    refunds_sync(store=store, payment_intent_id=locked.payment_intent_id or "", known=[info])
    mine.refresh_from_db()
    return mine, True


def refunds_sync(
    *, store: Store, payment_intent_id: str, known: Iterable[stripe_client.RefundInfo] = ()
) -> Purchase | None:
    """Record the payment's refunds as Stripe has them now; None when we have no purchase
    for it (yet: purchase creation syncs again). Calls Stripe with no transaction open."""
    purchase = Purchase.objects.filter(payment_intent_id=payment_intent_id).first()
    if purchase is None or not payment_intent_id:
        return None
    account = connected_account_for(store)
    if account is None:
        return purchase
    infos = {i.id: i for i in known}
    for info in stripe_client.refunds_for_payment_intent(
        account_id=account.stripe_account_id, payment_intent_id=payment_intent_id
    ):
        infos[info.id] = info  # the list is Stripe's current view: it wins
    charged: stripe_client.ChargeRefunds | None = None
    fee_refunded: int | None = None
    if purchase.charge_id:
        charged = stripe_client.charge_refunds(
            account_id=account.stripe_account_id, charge_id=purchase.charge_id
        )
        if charged.application_fee_id:
            fee_refunded = stripe_client.application_fee_refunded(charged.application_fee_id)
    return _refunds_record(
        store=store,
        purchase_id=purchase.pk,
        infos=list(infos.values()),
        charge_amount_refunded=charged.amount_refunded if charged else None,
        fee_refunded=fee_refunded,
    )


def _refunds_record(
    *,
    store: Store,
    purchase_id: int,
    infos: list[stripe_client.RefundInfo],
    charge_amount_refunded: int | None,
    fee_refunded: int | None,
) -> Purchase:
    """Write what Stripe said, under the purchase's row lock; idempotent (totals, not
    increments), so any number of events and clicks end in the same rows."""
    to_tell: list[int] = []
    with cells.atomic():
        purchase = Purchase.objects.select_for_update().get(pk=purchase_id)
        rows = {r.stripe_refund_id: r for r in purchase.refunds.exclude(stripe_refund_id=None)}
        ours = {str(r.uid): r for r in purchase.refunds.filter(stripe_refund_id=None)}
        newly_counted: list[Refund] = []
        for info in sorted(infos, key=lambda i: (i.created, i.id)):
            row = rows.get(info.id) or ours.pop(info.metadata.get("refund", ""), None)
            if row is None:  # made in the seller's Stripe Dashboard (or by another tool)
                row = Refund(
                    purchase=purchase,
                    source=Refund.Source.STRIPE,
                    reason=info.reason if info.reason in REASONS else "",
                )
                if info.created:
                    row.created_at = datetime.fromtimestamp(info.created, tz=UTC)
            was_counted = bool(row.pk) and row.stripe_refund_id and row.is_counted
            row.stripe_refund_id = info.id
            row.amount = info.amount
            row.status = info.status if info.status in Refund.Status.values else row.status
            row.failure_reason = info.failure_reason[:64]
            row.save()
            if row.is_counted and not was_counted:
                newly_counted.append(row)
            if row.is_counted and row.buyer_notified_at is None:
                to_tell.append(row.pk)
        confirmed = (
            purchase.refunds.exclude(stripe_refund_id=None)
            .filter(status__in=_STRIPE_COUNTED)
            .aggregate(total=Sum("amount"))["total"]
            or 0
        )
        total = charge_amount_refunded if charge_amount_refunded is not None else confirmed
        if charge_amount_refunded is not None and charge_amount_refunded != confirmed:
            logger.warning(
                "Purchase %s: Stripe's charge says %s refunded, its refunds add up to %s",
                purchase.uid,
                charge_amount_refunded,
                confirmed,
            )
        total = min(total, purchase.total_charged)
        fee_total = purchase.fee_refunded if fee_refunded is None else fee_refunded
        expected = expected_fee_refund(
            fee=purchase.platform_fee, amount=purchase.total_charged, refunded=total
        )
        if fee_refunded is not None and fee_refunded not in (0, expected):
            logger.info(
                "Purchase %s: Stripe refunded %s of the fee for %s refunded (rule: %s)",
                purchase.uid,
                fee_refunded,
                total,
                expected,
            )
        rise = fee_total - purchase.fee_refunded
        if rise > 0 and newly_counted:
            last = newly_counted[-1]
            Refund.objects.filter(pk=last.pk).update(fee_refunded=last.fee_refunded + rise)
        purchase.amount_refunded, purchase.fee_refunded = total, fee_total
        purchase.save(update_fields=["amount_refunded", "fee_refunded"])
        full = purchase.total_charged > 0 and total >= purchase.total_charged
        if full and purchase.status != Purchase.Status.REFUNDED:
            _refunded_in_full(purchase)
        elif not full and purchase.status == Purchase.Status.REFUNDED:
            _refund_undone(purchase)
        ledger_refunds_set(
            checkout_session_id=purchase.checkout_session_id,
            amount_refunded=total,
            fee_refunded=fee_total,
        )
        schema = store.schema_name
        for refund_id in to_tell:
            transaction.on_commit(lambda pk=refund_id: _queue_notify(pk, schema=schema))
    return purchase


def code_use_refunded(purchase: Purchase, *, refunded: bool) -> None:
    """A fully refunded purchase gives its code use back (and a failed refund takes it
    again, within the limit as at fulfilment; past it the order is honoured, logged).
    Called whenever a purchase's status moves to or from "refunded"."""
    codes = DiscountCode.objects.filter(pk=purchase.code_id)
    if refunded:
        codes.filter(uses__gt=0).update(uses=F("uses") - 1)
    elif not codes.filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses"))).update(
        uses=F("uses") + 1
    ):
        logger.warning(
            "Code %s used past its limit by %s (honoured)", purchase.code_id, purchase.uid
        )


def _refunded_in_full(purchase: Purchase) -> None:
    """Everything is back with the buyer: refunded, every download link locked (a
    dispute's pause becomes final), the ledger says so, the code use is given back."""
    now = timezone.now()
    if purchase.code_id:
        code_use_refunded(purchase, refunded=True)
    purchase.status = Purchase.Status.REFUNDED
    purchase.refunded_at = purchase.refunded_at or now
    purchase.save(update_fields=["status", "refunded_at"])
    grants = DownloadGrant.objects.filter(purchase=purchase)
    grants.filter(revoked_at__isnull=True).update(revoked_at=now, revoked_reason="refunded")
    grants.filter(revoked_reason__in=("disputed", "chargeback")).update(revoked_reason="refunded")
    ledger_status_set(checkout_session_id=purchase.checkout_session_id, status=purchase.status)
    metrics.refund(outcome="recorded")


def _refund_undone(purchase: Purchase) -> None:
    """A refund that made the purchase whole failed: paid again, access back.

    Stripe no longer counts it (its charge's `amount_refunded` dropped), so neither do we;
    a download locked for the refund opens again (a dispute's lock stays, and a dispute
    still open says "disputed" the next time Stripe speaks of it).
    """
    if purchase.code_id:
        code_use_refunded(purchase, refunded=False)
    ChargeState.objects.filter(payment_intent_id=purchase.payment_intent_id).update(refunded=False)
    purchase.status = Purchase.Status.PAID
    purchase.refunded_at = None
    purchase.save(update_fields=["status", "refunded_at"])
    DownloadGrant.objects.filter(purchase=purchase, revoked_reason="refunded").update(
        revoked_at=None, revoked_reason=""
    )
    ledger_status_set(checkout_session_id=purchase.checkout_session_id, status=purchase.status)
    metrics.refund(outcome="failed")


def _queue_notify(refund_id: int, *, schema: str) -> None:
    with schema_context(schema):
        refund_notify_task.delay(refund_id)


def refunds_sync_queue(*, payment_intent_id: str, schema: str) -> None:
    """After the commit, a task in the store's schema records the payment's refunds."""

    def queue() -> None:
        with schema_context(schema):
            refunds_sync_task.delay(payment_intent_id)

    transaction.on_commit(queue)


def _task_store() -> Store:
    """The store whose schema a task runs in (tenant-schemas-celery set it)."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Store) and tenant.pk:
        return tenant
    return Store.objects.get(schema_name=connection.schema_name)


# The refund tasks live here, not in payments.tasks (which imports services, which imports
# this module): each takes an id and calls one function of this module.
@shared_task(
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def refund_notify_task(refund_id: int) -> bool:
    return refund_notify(store=_task_store(), refund_id=refund_id)


@shared_task(
    acks_late=True,
    autoretry_for=(stripe_client.StripeFailure,),
    retry_backoff=True,
    max_retries=8,
)
def refunds_sync_task(payment_intent_id: str) -> bool:
    return refunds_sync(store=_task_store(), payment_intent_id=payment_intent_id) is not None


def refund_notify(*, store: Store, refund_id: int) -> bool:
    """The buyer's refund email, once per refund: amount, what remains, the reason.

    Sent with no transaction or row lock held; the claim makes concurrent tasks (a
    webhook redelivered while the first is sending) send one.
    """
    with claimed(f"refund-mail:{store.schema_name}:{refund_id}") as mine:
        if not mine:
            return False
        refund = Refund.objects.select_related("purchase__product").get(pk=refund_id)
        if refund.buyer_notified_at or not refund.is_counted:
            return False
        purchase = refund.purchase
        full = purchase.amount_refunded >= purchase.total_charged
        context = {
            "refund": refund,
            "purchase": purchase,
            "store": store,
            "full": full,
            "reason": refund.get_reason_display() if refund.reason else "",
            "remaining": format_amount(purchase.refundable, purchase.currency),
            "refunded_total": format_amount(purchase.amount_refunded, purchase.currency),
        }
        message = EmailMultiAlternatives(
            subject=f"Refund from {store.name}: {refund.amount_display} for "
            f"{purchase.product.title}",
            body=render_to_string("payments/email/refund.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[purchase.buyer_email],
            reply_to=[store.support_email] if store.support_email else None,
        )
        message.send()
        Refund.objects.filter(pk=refund_id).update(buyer_notified_at=timezone.now())
    return True
