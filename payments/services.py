"""Money and access, in the store's schema.

Every write that decides who paid and who may download lives here. Each is idempotent:
webhooks, the thank-you page and reconciliation may all report the same payment, in any
order and at the same moment; unique constraints and row locks make one outcome.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from catalog.models import Product
from config import metrics
from payments.platform.models import FeeLedgerEntry
from payments.platform.services import (
    connected_account_for,
    connected_account_forget,
    connected_account_link,
    connected_account_sync,
)
from tenants.models import Store

from . import stripe_client
from .fees import fee_rule
from .models import ChargeState, DownloadGrant, DownloadLog, LibraryToken, Purchase, StampedCopy
from .stripe_client import CheckoutSession
from .tokens import grant_token, new_salt, random_token, token_hash

logger = logging.getLogger(__name__)

OPEN_DISPUTE = {
    "warning_needs_response",
    "warning_under_review",
    "needs_response",
    "under_review",
    "lost",
}


# --- Connect ------------------------------------------------------------------------------


def connect_start(*, store: Store, email: str, return_url: str, refresh_url: str) -> str:
    """The Account Link URL that takes the seller through Stripe onboarding."""
    existing = connected_account_for(store)
    if existing is not None and existing.deauthorized_at:
        connected_account_forget(store=store)
        existing = None
    if existing is None:
        account = stripe_client.account_create(
            store_key=f"{store.schema_name}:{uuid.uuid4().hex[:8]}", email=email
        )
        existing = connected_account_link(store=store, account=account)
    return stripe_client.account_link_create(
        account_id=existing.stripe_account_id,
        return_url=return_url,
        refresh_url=refresh_url,
        nonce=uuid.uuid4().hex,  # links are single-use: every visit needs a new one
    )


def connect_refresh(*, store: Store):
    """Never trust the redirect back from Stripe: ask Stripe for the account."""
    row = connected_account_for(store)
    if row is None:
        return None
    return connected_account_sync(account=stripe_client.account_retrieve(row.stripe_account_id))


# --- Checkout -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutPlan:
    amount: int
    currency: str
    fee: int
    fee_percent: str
    fee_fixed: int


def checkout_plan(*, store: Store, product: Product) -> CheckoutPlan:
    rule = fee_rule(
        currency=product.currency, store_percent=store.fee_percent, store_fixed=store.fee_fixed
    )
    return CheckoutPlan(
        amount=product.price,
        currency=product.currency,
        fee=rule.fee_for(product.price),
        fee_percent=str(rule.percent),
        fee_fixed=rule.fixed,
    )


def checkout_start(
    *, store: Store, product: Product, attempt: str, success_url: str, cancel_url: str
) -> CheckoutSession:
    """A Checkout Session as a direct charge on the store's account, fee included.

    `attempt` comes from the product page's form: a retried click (same attempt) reuses
    the idempotency key, so Stripe answers with the same session.
    """
    if not store.is_active:
        raise ValidationError("This store is not taking orders right now.")
    if not product.is_published:
        raise ValidationError("This product is not for sale.")
    account = connected_account_for(store)
    if not store.can_take_charges or account is None or not account.charges_enabled:
        raise ValidationError("This store cannot take payments yet. Please come back later.")
    plan = checkout_plan(store=store, product=product)
    metadata = {
        "store": store.schema_name,
        "store_subdomain": store.subdomain,
        "product": str(product.uid),
        "product_title": product.title[:100],
        "fee": str(plan.fee),
        "fee_percent": plan.fee_percent,
        "fee_fixed": str(plan.fee_fixed),
    }
    key = stripe_client.idempotency_key(
        "checkout",
        store.schema_name,
        str(product.uid),
        attempt,
        plan.amount,
        plan.currency,
        plan.fee,
    )
    return stripe_client.checkout_session_create(
        account_id=account.stripe_account_id,
        attempt_key=key,
        product_name=product.title,
        product_description=product.description[:200],
        unit_amount=plan.amount,
        currency=plan.currency,
        application_fee_amount=plan.fee,
        success_url=success_url,
        cancel_url=cancel_url,
        metadata=metadata,
    )


# --- Purchases ----------------------------------------------------------------------------


class NotOurs(Exception):
    """A Stripe object that does not belong to this store or product."""


def purchase_fulfil(*, store: Store, session: CheckoutSession) -> tuple[Purchase, bool]:
    """Exactly one Purchase (and one ledger row) per paid Checkout Session.

    Returns (purchase, created). Safe to call from any number of places at once.
    """
    if not session.is_paid:
        raise ValidationError("This checkout is not paid.")
    if session.metadata.get("store") != store.schema_name:
        metrics.purchase(outcome="rejected")
        raise NotOurs(f"Session {session.id} belongs to another store.")
    existing = Purchase.objects.filter(checkout_session_id=session.id).first()
    if existing is not None:
        metrics.purchase(outcome="existing")
        return existing, False
    product = Product.objects.filter(uid=session.metadata.get("product")).first()
    if product is None:
        metrics.purchase(outcome="rejected")
        raise NotOurs(f"Session {session.id} names an unknown product.")
    fee = session.application_fee_amount
    if fee is None:
        fee = int(session.metadata.get("fee") or 0)
    try:
        with transaction.atomic():
            purchase = Purchase.objects.create(
                product=product,
                buyer_email=session.customer_email or "unknown@invalid",
                amount=session.amount_total,
                currency=session.currency,
                platform_fee=fee,
                fee_percent=session.metadata.get("fee_percent") or "0",
                fee_fixed=int(session.metadata.get("fee_fixed") or 0),
                checkout_session_id=session.id,
                payment_intent_id=session.payment_intent_id or None,
                charge_id=session.charge_id,
            )
            salt = new_salt()
            DownloadGrant.objects.create(
                purchase=purchase,
                salt=salt,
                token_hash=token_hash(
                    grant_token(schema=store.schema_name, purchase_uid=str(purchase.uid), salt=salt)
                ),
                download_limit=product.download_limit,
            )
            FeeLedgerEntry.objects.create(
                store_id=store.pk,
                checkout_session_id=session.id,
                payment_intent_id=session.payment_intent_id,
                purchase_uid=purchase.uid,
                product_title=product.title[:140],
                amount=purchase.amount,
                platform_fee=purchase.platform_fee,
                currency=purchase.currency,
                fee_percent=purchase.fee_percent,
                fee_fixed=purchase.fee_fixed,
                status=purchase.status,
                created_at=purchase.created_at,
            )
            # A refund or dispute that arrived before the purchase applies now.
            if purchase.payment_intent_id:
                state = ChargeState.objects.filter(
                    payment_intent_id=purchase.payment_intent_id
                ).first()
                if state is not None:
                    _apply_charge_state(purchase, state)
            if product.stamping:
                StampedCopy.objects.create(purchase=purchase)
            purchase_id, schema = purchase.pk, store.schema_name
            transaction.on_commit(
                lambda: _after_sale(purchase_id, schema=schema, stamping=product.stamping)
            )
    except IntegrityError:
        # Someone else created it in the same instant: theirs is the one.
        metrics.purchase(outcome="existing")
        return Purchase.objects.get(checkout_session_id=session.id), False
    metrics.purchase(outcome="created")
    return purchase, True


def _after_sale(purchase_id: int, *, schema: str, stamping: bool) -> None:
    from . import tasks

    # on_commit runs when the outermost transaction commits, maybe in another schema by
    # then; tasks carry the schema they are queued in (tenant-schemas-celery).
    with schema_context(schema):
        tasks.send_receipt.delay(purchase_id)
        tasks.notify_seller.delay(purchase_id)
        if stamping:
            tasks.stamp_purchase.delay(purchase_id)


def purchase_confirm(*, store: Store, session_id: str) -> Purchase | None:
    """The thank-you page asks Stripe itself, so no buyer waits for a webhook."""
    existing = Purchase.objects.filter(checkout_session_id=session_id).first()
    if existing is not None:
        return existing
    account = connected_account_for(store)
    if account is None:
        return None
    session = stripe_client.checkout_session_retrieve(
        account_id=account.stripe_account_id, session_id=session_id
    )
    if not session.is_paid:
        return None
    purchase, _ = purchase_fulfil(store=store, session=session)
    return purchase


def _set_status(purchase: Purchase, status: str, *, revoke_reason: str = "") -> None:
    now = timezone.now()
    purchase.status = status
    if status == Purchase.Status.REFUNDED and not purchase.refunded_at:
        purchase.refunded_at = now
        metrics.refund(outcome="recorded")
    if status == Purchase.Status.DISPUTED and not purchase.disputed_at:
        purchase.disputed_at = now
    purchase.save(update_fields=["status", "refunded_at", "disputed_at"])
    grant = DownloadGrant.objects.filter(purchase=purchase)
    if revoke_reason:
        grant.filter(revoked_at__isnull=True).update(revoked_at=now, revoked_reason=revoke_reason)
    else:
        grant.update(revoked_at=None, revoked_reason="")
    FeeLedgerEntry.objects.filter(checkout_session_id=purchase.checkout_session_id).update(
        status=status, updated_at=now
    )


def _apply_charge_state(purchase: Purchase, state: ChargeState) -> None:
    if state.charge_id and not purchase.charge_id:
        purchase.charge_id = state.charge_id
        purchase.save(update_fields=["charge_id"])
    if state.refunded:
        if purchase.status != Purchase.Status.REFUNDED:
            _set_status(purchase, Purchase.Status.REFUNDED, revoke_reason="refunded")
    elif state.dispute_status in OPEN_DISPUTE:
        if purchase.status != Purchase.Status.DISPUTED:
            _set_status(purchase, Purchase.Status.DISPUTED, revoke_reason="disputed")
    elif state.dispute_status == "won" and purchase.status == Purchase.Status.DISPUTED:
        _set_status(purchase, Purchase.Status.PAID)


def charge_state_record(
    *,
    payment_intent_id: str,
    charge_id: str = "",
    refunded: bool | None = None,
    dispute_status: str | None = None,
) -> Purchase | None:
    """Record what Stripe said about a charge and apply it to the purchase if we have one."""
    if not payment_intent_id:
        return None
    with transaction.atomic():
        state, _ = ChargeState.objects.select_for_update().get_or_create(
            payment_intent_id=payment_intent_id
        )
        if charge_id:
            state.charge_id = charge_id
        if refunded:
            state.refunded = True  # a full refund is final
        if dispute_status is not None:
            state.dispute_status = dispute_status
        state.save()
        purchase = (
            Purchase.objects.select_for_update().filter(payment_intent_id=payment_intent_id).first()
        )
        if purchase is not None:
            _apply_charge_state(purchase, state)
    return purchase


def purchase_refund(*, store: Store, purchase: Purchase, refund_application_fee: bool) -> Purchase:
    """A full refund from the dashboard, on the store's own Stripe account."""
    if purchase.status == Purchase.Status.REFUNDED:
        raise ValidationError("This sale has already been refunded.")
    if not purchase.payment_intent_id:
        raise ValidationError("This sale has no Stripe payment to refund.")
    account = connected_account_for(store)
    if account is None:
        raise ValidationError("This store has no connected Stripe account.")
    stripe_client.refund_create(
        account_id=account.stripe_account_id,
        payment_intent_id=purchase.payment_intent_id,
        refund_application_fee=refund_application_fee,
        reason=f"Refunded from the dashboard ({purchase.uid})",
    )
    metrics.refund(outcome="requested")
    # Stripe said yes: revoke now; the charge.refunded webhook will find it done.
    charge_state_record(payment_intent_id=purchase.payment_intent_id, refunded=True)
    purchase.refresh_from_db()
    return purchase


def download_reset(*, purchase: Purchase) -> None:
    DownloadGrant.objects.filter(purchase=purchase).update(download_count=0)


# --- The paywall --------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadDecision:
    allowed: bool
    reason: str  # ok / unknown / refunded / disputed / revoked / expired / limit / preparing
    grant: DownloadGrant | None = None


def download_url_for(purchase: Purchase, *, store: Store) -> str:
    return f"{store.url}/d/{download_token_for(purchase, store=store)}/"


def download_token_for(purchase: Purchase, *, store: Store) -> str:
    grant = purchase.grant
    return grant_token(schema=store.schema_name, purchase_uid=str(purchase.uid), salt=grant.salt)


# Table names come from model meta; values are parameters.
_COUNT_AND_LOG = """
WITH counted AS (
    UPDATE {grants} SET download_count = download_count + 1
    WHERE id = %s AND revoked_at IS NULL
      AND (download_limit IS NULL OR download_count < download_limit)
    RETURNING id)
INSERT INTO {logs} (grant_id, at, ip, user_agent)
SELECT id, %s, %s, %s FROM counted RETURNING id
"""


def download_authorize(*, token: str, ip: str | None, user_agent: str) -> DownloadDecision:
    """Check the grant in this store's schema, count the download atomically, log it."""
    if not token or len(token) > 128:
        return DownloadDecision(False, "unknown")
    grant = (
        DownloadGrant.objects.select_related("purchase__product", "purchase__stamped")
        .filter(token_hash=token_hash(token))
        .first()
    )
    if grant is None:
        return DownloadDecision(False, "unknown")
    if grant.revoked_at:
        return DownloadDecision(False, grant.revoked_reason or "revoked", grant)
    if grant.expires_at and grant.expires_at <= timezone.now():
        return DownloadDecision(False, "expired", grant)
    stamped = getattr(grant.purchase, "stamped", None) if grant.purchase.product.stamping else None
    if grant.purchase.product.stamping and (
        stamped is None or stamped.state != StampedCopy.State.READY
    ):
        return DownloadDecision(False, "preparing", grant)
    # One statement counts and logs: the UPDATE's row lock decides between concurrent
    # clicks (none can pass the limit), and the log row exists only if the count rose.
    sql = _COUNT_AND_LOG.format(
        grants=DownloadGrant._meta.db_table, logs=DownloadLog._meta.db_table
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [grant.pk, timezone.now(), ip, user_agent[:300]])
        if cursor.fetchone() is None:
            return DownloadDecision(False, "limit", grant)
    return DownloadDecision(True, "ok", grant)


# --- Buyer library (magic links) ------------------------------------------------------------

LIBRARY_TTL = timedelta(hours=24)


def library_link_create(*, email: str) -> str | None:
    """A magic link token when this email bought here; None otherwise (caller says the same)."""
    email = email.strip().lower()
    if not Purchase.objects.filter(buyer_email=email).exists():
        return None
    token = random_token()
    LibraryToken.objects.create(
        email=email, token_hash=token_hash(token), expires_at=timezone.now() + LIBRARY_TTL
    )
    return token


def library_open(*, token: str) -> str | None:
    """The email a valid library token stands for."""
    row = LibraryToken.objects.filter(
        token_hash=token_hash(token), expires_at__gt=timezone.now()
    ).first()
    return row.email if row else None
