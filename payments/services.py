"""Money and access, in the store's schema.

Every write that decides who paid and who may download lives here. Each is idempotent:
webhooks, the thank-you page and reconciliation may all report the same payment, in any
order and at the same moment; unique constraints and row locks make one outcome.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, send_mail
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    connection,
    connections,
    transaction,
)
from django.db.models import Count, F, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django_tenants.utils import schema_context

from catalog.bundles import bundle_slots
from catalog.discounts import Quote, discount_quote
from catalog.models import DiscountCode, FileSlot, Product, ProductFile
from catalog.money import format_amount, minimum_charge
from catalog.pwyw import PwywOffer, pwyw_offer
from catalog.rendering import markdown_text
from config import metrics
from payments.platform.models import ConnectedAccount, DeferredDownload, PaymentIncident
from payments.platform.services import (
    connected_account_for,
    connected_account_forget,
    connected_account_link,
    connected_account_sync,
    incident_mark_notified,
    incident_record,
    incident_refunded,
    ledger_entry_record,
    ledger_status_set,
)
from tenants import cells, prepared
from tenants.models import Store

from . import stripe_client
from .fees import fee_rule
from .locks import claimed
from .models import (
    ChargeState,
    CheckoutRecord,
    CodeHold,
    DownloadGrant,
    DownloadLog,
    LibraryToken,
    Purchase,
    StampedCopy,
    UpdateNotice,
    UpdateOptOut,
)
from .refunds import code_use_refunded, refunds_sync_queue
from .stripe_client import CheckoutSession
from .tokens import grant_token, new_salt, random_token, token_hash

logger = logging.getLogger(__name__)


# --- Disputes: what each status does to the buyer's access --------------------------------

PAUSE, RESTORE, REVOKE = "pause", "restore", "revoke"

# Every status of Stripe's Dispute object (STRIPE-FACTS 6.1, API 2026-10-28.endive).
# - Open (an inquiry, a chargeback, or an appeal still being decided): downloads pause.
#   The buyer asked their bank for the money back; until the bank decides, the file
#   stays locked, and nothing is lost if the seller wins. Inquiries (`warning_*`) pause
#   too: they are the step before a chargeback, and a buyer who keeps downloading while
#   claiming "not received" weakens the seller's evidence.
# - `won`, `warning_closed`: the seller kept the money (the inquiry closed without a
#   chargeback); access comes back.
# - `lost`: the money went back to the buyer; access ends (an appeal reopens it as
#   `appeal_*`, which pauses, and `won` restores).
# - `prevented`: the chargeback was stopped upstream by refunding the cardholder
#   (Visa RDR): the buyer has their money back, so access ends as for a refund.
DISPUTE_ACCESS: dict[str, str] = {
    "warning_needs_response": PAUSE,
    "warning_under_review": PAUSE,
    "warning_closed": RESTORE,
    "needs_response": PAUSE,
    "under_review": PAUSE,
    "appeal_needs_response": PAUSE,
    "appeal_under_review": PAUSE,
    "won": RESTORE,
    "lost": REVOKE,
    "prevented": REVOKE,
}
# Reasons a grant is locked because of a dispute; only these are lifted on RESTORE.
DISPUTE_REASONS = {PAUSE: "disputed", REVOKE: "chargeback"}


def dispute_access(status: str) -> str:
    """What a dispute status does; a status Stripe adds later pauses until we map it."""
    access = DISPUTE_ACCESS.get(status)
    if access is None:
        logger.warning("Unknown dispute status %r: pausing access", status)
        return PAUSE
    return access


# --- Connect ------------------------------------------------------------------------------


# Serialises "Connect Stripe" per store (pg_advisory_xact_lock(_CONNECT_LOCK, store.pk)):
# a second click waits for the first, then finds the account it made.
_CONNECT_LOCK = 0x5354


def connect_account_claim(*, store: Store, email: str, country: str) -> ConnectedAccount:
    """The store's Stripe account, created on the first call only (the seller's POST).

    One account per store however often, and however fast, the seller clicks: the lock
    makes concurrent clicks take turns, and the idempotency key (store + which account of
    the store this is + the parameters) makes Stripe answer a retried create with the
    account it already made. A disconnected account is replaced by a new one.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_CONNECT_LOCK, store.pk])
        existing = connected_account_for(store)
        if existing is not None and not existing.deauthorized_at:
            return existing
        previous = existing.stripe_account_id if existing is not None else ""
        if existing is not None:
            connected_account_forget(store=store)
        account = stripe_client.account_create(
            store_key=store.schema_name,
            email=email,
            country=country,
            business_name=store.name,
            business_url=store.url,
            attempt=previous,
        )
        return connected_account_link(store=store, account=account)


def connect_link(*, store: Store, return_url: str, refresh_url: str) -> str | None:
    """A fresh Account Link into onboarding for the store's account (None: it has none).

    Links are single-use and expire; creating one changes nothing of ours, so the refresh
    page Stripe sends the seller to (a GET) may call this.
    """
    row = connected_account_for(store)
    if row is None or row.deauthorized_at:
        return None
    return stripe_client.account_link_create(
        account_id=row.stripe_account_id,
        return_url=return_url,
        refresh_url=refresh_url,
        nonce=uuid.uuid4().hex,  # links are single-use: every visit needs a new one
    )


def connect_start(
    *, store: Store, email: str, country: str, return_url: str, refresh_url: str
) -> str:
    """The Account Link URL that takes the seller through Stripe onboarding (POST)."""
    connect_account_claim(store=store, email=email, country=country)
    url = connect_link(store=store, return_url=return_url, refresh_url=refresh_url)
    assert url is not None  # the claim above made sure the store has a live account
    return url


def connect_status(*, store: Store) -> stripe_client.Account | None:
    """Stripe's current view of the store's account, read only (the return page, a GET).

    Saving it is the `account.updated` webhook's job (or `connect_refresh`'s, on a POST).
    """
    row = connected_account_for(store)
    if row is None or row.deauthorized_at:
        return None
    return stripe_client.account_retrieve(row.stripe_account_id)


def connect_refresh(*, store: Store):
    """Never trust the redirect back from Stripe: ask Stripe for the account, and save it."""
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
    code_id: int | None = None
    discount: int = 0
    tax_enabled: bool = False


def checkout_plan(
    *, store: Store, product: Product, quote: Quote | None = None, offer: PwywOffer | None = None
) -> CheckoutPlan:
    """What the buyer pays and the fee on it: with a code, the fee is computed on the
    discounted amount (what the buyer pays), never on the list price; for pay what you
    want, on the amount the buyer chose (`offer`). Always before tax: Stripe Tax adds its
    tax on top (exclusive), and the fee is fixed when the session is created."""
    rule = fee_rule(
        currency=product.currency, store_percent=store.fee_percent, store_fixed=store.fee_fixed
    )
    if offer is not None:
        quote = offer.quote
        amount, discount = offer.amount, offer.discount
    else:
        amount = quote.amount if quote is not None else product.price
        discount = quote.discount if quote is not None else 0
    return CheckoutPlan(
        amount=amount,
        currency=product.currency,
        fee=rule.fee_for(amount),
        fee_percent=str(rule.percent),
        fee_fixed=rule.fixed,
        code_id=quote.code.pk if quote is not None else None,
        discount=discount,
        tax_enabled=bool(store.tax_enabled),
    )


# --- Pay what you want (catalog.pwyw has the rules, and how codes combine) ----------------


def _pwyw_lowest_charge(store: Store, product: Product) -> int:
    account = connected_account_for(store)
    settles_in = account.default_currency if account is not None else None
    return minimum_charge(product.currency, settles_in=settles_in or None)


def pwyw_is_free(*, store: Store, product: Product, amount: str, code: str = "") -> bool:
    """Whether the amount typed makes a free order (0 where the minimum allows it);
    ValidationError (keyed "amount") when it is not an amount the product takes."""
    quote = discount_quote(product=product, code=code) if code else None
    offer = pwyw_offer(
        product=product,
        typed=amount,
        lowest_charge=_pwyw_lowest_charge(store, product),
        quote=quote,
    )
    return offer.is_free


def pwyw_checkout_offer(
    *, store: Store, product: Product, amount: str, code: str, attempt: str, email: str
) -> tuple[PwywOffer, CodeHold | None]:
    """The amount to charge, and a hold on a limited code's use only when the code was
    needed (the buyer typed less than the regular minimum)."""
    lowest = _pwyw_lowest_charge(store, product)
    quote = discount_quote(product=product, code=code) if code else None
    offer = pwyw_offer(product=product, typed=amount, lowest_charge=lowest, quote=quote)
    if offer.is_free:
        raise ValidationError("Nothing to pay: this order needs no payment.")
    if offer.quote is None:
        return offer, None
    held, hold = code_hold(product=product, code=code, attempt=attempt, email=email)
    return pwyw_offer(product=product, typed=amount, lowest_charge=lowest, quote=held), hold


def purchase_pwyw_free(
    *, store: Store, product: Product, amount: str, email: str, attempt: str, code: str = ""
) -> tuple[Purchase, bool]:
    """A pay-what-you-want order of 0 (the minimum is 0, or a code lowered it to 0): no
    Stripe, one purchase, one grant, one ledger row with fee 0, as `purchase_free`.
    Idempotent per `attempt`; the view rate-limits it per IP and per email."""
    email = email.strip().lower()
    if not store.is_active:
        raise ValidationError("This store is not taking orders right now.")
    if not product.is_published:
        raise ValidationError("This product is not for sale.")
    if not _EMAIL.match(email) or len(email) > 254:
        raise ValidationError({"email": "Enter your email address: the download link goes there."})
    order_id = f"free_{attempt}"
    lowest = _pwyw_lowest_charge(store, product)
    with cells.atomic():
        quote = discount_quote(product=product, code=code, lock=True) if code else None
        offer = pwyw_offer(product=product, typed=amount, lowest_charge=lowest, quote=quote)
        if not offer.is_free:
            raise ValidationError({"amount": "This amount needs a payment."})
        existing = Purchase.objects.filter(checkout_session_id=order_id).first()
        if existing is not None:
            return existing, False
        if offer.quote is not None:
            _code_claims(offer.quote.code, attempt=attempt, email=email)
        rule = fee_rule(
            currency=product.currency, store_percent=store.fee_percent, store_fixed=store.fee_fixed
        )
        purchase = _purchase_make(
            store=store,
            product=product,
            buyer_email=email,
            amount=0,
            currency=product.currency,
            platform_fee=rule.fee_for(0),
            fee_percent=str(rule.percent),
            fee_fixed=rule.fixed,
            code_id=offer.quote.code.pk if offer.quote is not None else None,
            discount=offer.discount,
            checkout_session_id=order_id,
        )
    return purchase, True


# --- Discount codes: holding a use for a checkout -----------------------------------------

# A held code's session lives 35 minutes (Stripe's minimum is 30, STRIPE-FACTS 2.6) and
# its hold 10 minutes longer, so no session can still be paid once its hold has lapsed.
# The session's expires_at is the hold's minus the grace: a retried click (same attempt,
# same hold) sends the same parameters, hence the same idempotency key and session.
CODE_SESSION_LIFETIME = timedelta(minutes=35)
CODE_HOLD_GRACE = timedelta(minutes=10)
# A hold whose session was never made is reused only while Stripe would still accept its
# expires_at (30 min ahead, plus a minute of clock slack); after that it is made afresh.
_SESSION_MIN_AHEAD = timedelta(minutes=31)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


def _code_claims(code: DiscountCode, *, attempt: str, email: str) -> None:
    """Refuse a code whose uses (paid plus held) are all taken, or this email already
    used; the caller holds the code's row lock."""
    now = timezone.now()
    open_holds = CodeHold.objects.filter(
        code=code, purchase__isnull=True, expires_at__gt=now
    ).exclude(attempt=attempt)
    if code.once_per_email and (
        Purchase.objects.filter(code=code, buyer_email=email)
        .exclude(status=Purchase.Status.REFUNDED)
        .exists()
        or open_holds.filter(email=email).exists()
    ):
        raise ValidationError("This code can be used once per buyer, and this email has.")
    if code.max_uses is not None and code.uses + open_holds.count() >= code.max_uses:
        raise ValidationError("This code has been used up.")


def code_is_free(*, product: Product, code: str) -> bool:
    """Whether `code` makes the product free (ValidationError when it is not valid)."""
    return discount_quote(product=product, code=code).is_free


def code_hold(
    *, product: Product, code: str, attempt: str, email: str = ""
) -> tuple[Quote, CodeHold | None]:
    """The quote for `code`, and for a limited or one-per-email code a hold on one use.

    Runs in its own short transaction with the code's row lock, never around a Stripe
    call. A retried click (same attempt) finds its hold again.
    """
    email = email.strip().lower()
    with cells.atomic():
        quote = discount_quote(product=product, code=code, lock=True)
        found = quote.code
        if found.once_per_email and not _EMAIL.match(email):
            raise ValidationError("Enter your email address: this code is one use per buyer.")
        if found.max_uses is None and not found.once_per_email:
            return quote, None
        now = timezone.now()
        mine = CodeHold.objects.filter(
            attempt=attempt, code=found, purchase__isnull=True, expires_at__gt=now
        ).first()
        if mine is not None and mine.email == email:
            session_ends = mine.expires_at - CODE_HOLD_GRACE
            if mine.session_id or session_ends - now >= _SESSION_MIN_AHEAD:
                return quote, mine
        _code_claims(found, attempt=attempt, email=email)
        CodeHold.objects.filter(attempt=attempt).delete()  # a lapsed or other-code hold
        hold = CodeHold.objects.create(
            code=found,
            attempt=attempt,
            email=email,
            expires_at=now + CODE_SESSION_LIFETIME + CODE_HOLD_GRACE,
        )
    return quote, hold


def _code_redeem(*, code_id: int, purchase: Purchase, session_id: str) -> None:
    """Count one use of the code, at fulfilment, inside the purchase's transaction.

    A conditional UPDATE: the count never passes `max_uses` (a check constraint backs
    it). It can only fail to count if a hold lapsed before its session was paid, which
    Stripe prevents (a session cannot be paid after `expires_at`, and the hold outlives
    it). Should it happen anyway, the order is honoured: the buyer paid the price the
    platform offered, and Stripe took it; the use is logged as over the limit, not counted.
    """
    counted = (
        DiscountCode.objects.filter(pk=code_id)
        .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
        .update(uses=F("uses") + 1)
    )
    if not counted:
        logger.warning("Code %s used past its limit by %s (honoured)", code_id, session_id)
    CodeHold.objects.filter(session_id=session_id, purchase__isnull=True).update(purchase=purchase)


def checkout_start(
    *,
    store: Store,
    product: Product,
    attempt: str,
    success_url: str,
    cancel_url: str,
    code: str = "",
    email: str = "",
    amount: str | None = None,
) -> CheckoutSession:
    """A Checkout Session as a direct charge on the store's account, fee included.

    `attempt` comes from the product page's form: a retried click (same attempt, same
    parameters) reuses the idempotency key, so Stripe answers with the same session.
    The session is recorded before the buyer is redirected: only recorded sessions are
    ever fulfilled (see `purchase_fulfil`). With a `code`, the session's unit amount is
    the discounted price and the line item names the code (catalog.discounts says why);
    a limited code's use is held first (`code_hold`). A pay-what-you-want product is
    charged `amount`, what the buyer typed (catalog.pwyw: a code only lowers the
    minimum). A store with Stripe Tax on gets `automatic_tax` (`tax_session_params`).
    """
    if not store.is_active:
        raise ValidationError("This store is not taking orders right now.")
    if not product.is_published:
        raise ValidationError("This product is not for sale.")
    account = connected_account_for(store)
    if not store.can_take_charges or account is None or not account.charges_enabled:
        raise ValidationError("This store cannot take payments yet. Please come back later.")
    quote, hold = (None, None)
    offer: PwywOffer | None = None
    if product.pay_what_you_want:
        offer, hold = pwyw_checkout_offer(
            store=store,
            product=product,
            amount=amount or "",
            code=code,
            attempt=attempt,
            email=email,
        )
    elif code:
        quote, hold = code_hold(product=product, code=code, attempt=attempt, email=email)
        if quote.is_free:
            raise ValidationError("This code makes the product free: no payment is needed.")
        lowest = minimum_charge(product.currency, settles_in=account.default_currency or None)
        if quote.amount < lowest:
            raise ValidationError(
                f"With this code the price would be below {format_amount(lowest, product.currency)}, "
                "the smallest card payment Stripe takes."
            )
    plan = checkout_plan(store=store, product=product, quote=quote, offer=offer)
    # For people reading the seller's Stripe dashboard; never trusted when fulfilling.
    metadata = {
        "store": store.schema_name,
        "store_subdomain": store.subdomain,
        "product": str(product.uid),
        "product_title": product.title[:100],
    }
    name = product.title
    description = markdown_text(product.description)[:200]
    if offer is not None:
        metadata["pay_what_you_want"] = format_amount(offer.amount, product.currency)
        if offer.quote is not None:
            metadata["discount_code"] = offer.quote.code.code.upper()
            metadata["discount"] = str(offer.discount)
            name = f"{product.title} (code {offer.quote.code.code.upper()})"
    elif quote is not None:
        metadata["discount_code"] = quote.code.code.upper()
        metadata["discount"] = str(quote.discount)
        name = f"{product.title} ({quote.label})"
        description = (
            f"List price {format_amount(quote.list_price, quote.currency)}. " + description
        )
    expires_at = int((hold.expires_at - CODE_HOLD_GRACE).timestamp()) if hold else None
    try:
        session = stripe_client.checkout_session_create(
            account_id=account.stripe_account_id,
            attempt=attempt,
            product_name=name,
            product_description=description,
            unit_amount=plan.amount,
            currency=plan.currency,
            application_fee_amount=plan.fee,
            success_url=success_url,
            cancel_url=cancel_url,
            metadata=metadata,
            expires_at=expires_at,
            customer_email=hold.email if hold is not None else "",
            automatic_tax=plan.tax_enabled,
        )
    except stripe_client.StripeFailure as exc:
        if hold is not None and not exc.retryable:
            hold.delete()  # no session was made: the use is free again
        raise
    checkout_record(session=session, product=product, plan=plan)
    if hold is not None:
        CodeHold.objects.filter(pk=hold.pk).update(session_id=session.id)
    # Suspended while we were talking to Stripe: close the session we just made.
    if not _store_still_active(store):
        checkout_expire(account_id=account.stripe_account_id, session_id=session.id)
        raise ValidationError("This store is not taking orders right now.")
    return session


def product_for_checkout(*, slug: str) -> Product | None:
    """The published product at `slug` in this store's schema: one prepared statement
    (tenants.prepared) on the store's own connection, loaded as the ORM would
    (`Product.objects.published().get(slug=slug)`; slugs are unique per store)."""
    return prepared.model_get(
        cells.current_alias(),
        "checkout_product",
        Product,
        '"slug" = %s AND "status" = %s',
        [slug, Product.Status.PUBLISHED],
    )


def _store_still_active(store: Store) -> bool:
    """The store's status as the control database has it now (not the request's cached
    row): one prepared statement."""
    row = prepared.fetchone(
        DEFAULT_DB_ALIAS,
        "store_active",
        f'SELECT 1 FROM {Store._meta.db_table} WHERE "id" = %s AND "status" = %s',  # noqa: S608
        [store.pk, Store.Status.ACTIVE],
    )
    return row is not None


def _insert_or_ignore(obj, *, unique: str) -> None:
    """INSERT one row, or nothing when a row with the same `unique` column exists: one
    prepared statement (bulk_create(ignore_conflicts=True) wraps it in BEGIN/COMMIT,
    get_or_create adds a SELECT and a savepoint)."""
    meta = obj._meta
    # The store's own connection: its schema may be in another cell (tenants.cells).
    alias = cells.current_alias()
    db = connections[alias]
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(obj, add=True), db) for f in fields]
    # Prepared (tenants.prepared): it runs on every checkout.
    prepared.fetchone(
        alias, f"insert_{meta.model_name}", _insert_sql(type(obj), unique, alias), values
    )


@functools.lru_cache(maxsize=16)
def _insert_sql(model, unique: str, alias: str) -> str:
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    quote = connections[alias].ops.quote_name
    # Names from model meta, quoted; values are parameters.
    return "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING".format(  # noqa: S608
        quote(meta.db_table),
        ", ".join(quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
        quote(meta.get_field(unique).column),
    )


def checkout_record(*, session: CheckoutSession, product: Product, plan: CheckoutPlan) -> None:
    """Remember what the platform asked Stripe for (a retried click finds it already: the
    first record of a session stays)."""
    expires = datetime.fromtimestamp(session.expires_at, tz=UTC) if session.expires_at else None
    _insert_or_ignore(
        CheckoutRecord(
            session_id=session.id,
            product=product,
            amount=plan.amount,
            currency=plan.currency,
            fee=plan.fee,
            fee_percent=plan.fee_percent,
            fee_fixed=plan.fee_fixed,
            code_id=plan.code_id,
            discount=plan.discount,
            tax_enabled=plan.tax_enabled,
            expires_at=expires,
        ),
        unique="session_id",
    )


def checkout_expire(*, account_id: str, session_id: str) -> str:
    """Expire one open session at Stripe; returns its status afterwards."""
    try:
        session = stripe_client.checkout_session_expire(
            account_id=account_id, session_id=session_id
        )
        status = session.status
    except stripe_client.StripeFailure as exc:
        if exc.retryable:
            raise
        # Not open any more (paid or expired meanwhile): ask what it is now.
        status = stripe_client.checkout_session_retrieve(
            account_id=account_id, session_id=session_id
        ).status
    if status == "expired":
        CheckoutRecord.objects.filter(session_id=session_id, status="open").update(
            status=CheckoutRecord.Status.EXPIRED
        )
    return status


def store_checkouts_expire(*, store: Store) -> int:
    """A suspended store takes no money: expire every session still open at Stripe.

    Runs in the store's schema with no transaction open (one Stripe call per session).
    A session paid meanwhile is refunded when its completion arrives (`purchase_fulfil`).
    """
    account = connected_account_for(store)
    if account is None:
        return 0
    now = timezone.now()
    open_ids = list(
        CheckoutRecord.objects.filter(status=CheckoutRecord.Status.OPEN)
        .exclude(expires_at__lte=now)
        .values_list("session_id", flat=True)
    )
    expired = 0
    for session_id in open_ids:
        try:
            expired += (
                checkout_expire(account_id=account.stripe_account_id, session_id=session_id)
                == "expired"
            )
        except stripe_client.StripeFailure:
            logger.exception("Could not expire %s of %s", session_id, store.schema_name)
            raise
    return expired


def store_checkouts_expire_queue(*, store: Store) -> None:
    """After the suspension commits, a task in the store's schema expires its sessions."""
    from . import tasks

    schema = store.schema_name

    def queue() -> None:
        with schema_context(schema):
            tasks.checkouts_expire.delay()

    transaction.on_commit(queue)


# --- Purchases ----------------------------------------------------------------------------


class NotOurs(Exception):
    """A Stripe object that does not belong to this store or product."""


class StoreSuspended(Exception):
    """The payment completed for a suspended store; it was refunded, nothing delivered."""


def _checkout_problem(
    record: CheckoutRecord | None, session: CheckoutSession
) -> tuple[str, str] | None:
    """Why a paid session must not be fulfilled, or None when it matches our record."""
    if record is None:
        return (
            PaymentIncident.Kind.UNRECORDED,
            "The platform did not create this Checkout Session for this store.",
        )
    differences = []
    # Stripe Tax adds its tax on top of the recorded (pre-tax) amount; nothing else may.
    pre_tax = session.amount_total - session.amount_tax
    if session.amount_tax and not record.tax_enabled:
        differences.append(f"tax {session.amount_tax} (none asked for)")
    if pre_tax != record.amount:
        before_tax = " before tax" if session.amount_tax else ""
        differences.append(f"amount {pre_tax}{before_tax} (recorded {record.amount})")
    if session.currency != record.currency:
        differences.append(f"currency {session.currency or '?'} (recorded {record.currency})")
    if session.application_fee_amount != record.fee:
        fee = session.application_fee_amount
        differences.append(
            f"application fee {'none' if fee is None else fee} (recorded {record.fee})"
        )
    if differences:
        return PaymentIncident.Kind.MISMATCH, "Stripe says " + ", ".join(differences) + "."
    return None


def _claims_to_be_ours(session: CheckoutSession) -> bool:
    return bool(session.metadata.get("store") or session.metadata.get("product"))


def purchase_fulfil(*, store: Store, session: CheckoutSession) -> tuple[Purchase, bool]:
    """Exactly one Purchase (and one ledger row) per paid Checkout Session we created.

    Only a session recorded by `checkout_start`, whose amount, currency and application
    fee (read from Stripe, expanded PaymentIntent) match the record, is fulfilled. Any
    other paid session that claims to be ours is written to the incident list the
    console shows, and raises NotOurs. A payment completing for a suspended store is
    refunded and raises StoreSuspended. Returns (purchase, created); safe to call from
    any number of places at once. Calls Stripe only for the suspended refund, never
    inside a transaction.
    """
    if not session.is_paid:
        raise ValidationError("This checkout is not paid.")
    existing = Purchase.objects.filter(checkout_session_id=session.id).first()
    if existing is not None:
        metrics.purchase(outcome="existing")
        return existing, False
    record = CheckoutRecord.objects.select_related("product").filter(session_id=session.id).first()
    problem = _checkout_problem(record, session)
    if problem is not None:
        kind, detail = problem
        if record is not None or _claims_to_be_ours(session):
            account = connected_account_for(store)
            incident_record(
                kind=kind,
                checkout_session_id=session.id,
                store_id=store.pk,
                account_id=account.stripe_account_id if account else "",
                payment_intent_id=session.payment_intent_id,
                amount=session.amount_total,
                currency=session.currency,
                fee=session.application_fee_amount,
                detail=detail,
            )
            logger.warning("Not fulfilling %s in %s: %s", session.id, store.schema_name, detail)
        metrics.purchase(outcome="rejected")
        raise NotOurs(f"Session {session.id}: {detail}")
    assert record is not None
    if not Store.objects.filter(pk=store.pk, status=Store.Status.ACTIVE).exists():
        suspended_payment_refund(store=store, session=session, record=record)
        metrics.purchase(outcome="suspended_refunded")
        raise StoreSuspended(f"Session {session.id} was paid while the store was suspended.")
    product = record.product
    try:
        with cells.atomic():
            purchase = _purchase_make(
                store=store,
                product=product,
                buyer_email=session.customer_email or "unknown@invalid",
                amount=record.amount,
                currency=record.currency,
                platform_fee=record.fee,
                fee_percent=record.fee_percent,
                fee_fixed=record.fee_fixed,
                code_id=record.code_id,
                discount=record.discount,
                checkout_session_id=session.id,
                payment_intent_id=session.payment_intent_id,
                charge_id=session.charge_id,
                card_brand=session.card_brand,
                card_last4=session.card_last4,
                fees=session.charge_fees,
            )
            _purchase_tax_record(purchase, session)
            CheckoutRecord.objects.filter(pk=record.pk).update(
                status=CheckoutRecord.Status.COMPLETE
            )
            # A refund or dispute that arrived before the purchase applies now.
            if purchase.payment_intent_id:
                state = ChargeState.objects.filter(
                    payment_intent_id=purchase.payment_intent_id
                ).first()
                if state is not None:
                    _apply_charge_state(purchase, state)
                    _refunds_sync_queue(purchase, schema=store.schema_name)
    except IntegrityError:
        # Someone else created it in the same instant: theirs is the one.
        metrics.purchase(outcome="existing")
        return Purchase.objects.get(checkout_session_id=session.id), False
    metrics.purchase(outcome="created")
    return purchase, True


def _refunds_sync_queue(purchase: Purchase, *, schema: str) -> None:
    """Stripe spoke of this payment before the purchase existed (a refund made in the
    seller's Stripe Dashboard, say): record its refunds once the purchase is committed."""
    refunds_sync_queue(payment_intent_id=purchase.payment_intent_id or "", schema=schema)


def _purchase_tax_record(purchase: Purchase, session: CheckoutSession) -> None:
    """The tax Stripe Tax added (total_details.amount_tax), its rate and label (the
    expanded total_details.breakdown) and the buyer's country (customer_details.address),
    on the purchase; nothing when the session had no automatic tax."""
    if not session.tax_calculated:
        return
    purchase.tax_amount = session.amount_tax
    purchase.tax_rate = session.tax_rate
    purchase.tax_country = session.tax_country
    purchase.tax_label = session.tax_label
    purchase.save(update_fields=["tax_amount", "tax_rate", "tax_country", "tax_label"])


def _purchase_make(
    *,
    store: Store,
    product: Product,
    buyer_email: str,
    amount: int,
    currency: str,
    platform_fee: int,
    fee_percent: Decimal | str,
    fee_fixed: int,
    code_id: int | None,
    discount: int,
    checkout_session_id: str,
    payment_intent_id: str = "",
    charge_id: str = "",
    card_brand: str = "",
    card_last4: str = "",
    fees: stripe_client.ChargeFees | None = None,
) -> Purchase:
    """The purchase, its grant, its ledger row and its code use; inside the caller's
    transaction (the unique session id makes a concurrent second one fail, whole)."""
    purchase = Purchase.objects.create(
        product=product,
        buyer_email=buyer_email,
        amount=amount,
        currency=currency,
        platform_fee=platform_fee,
        fee_percent=fee_percent,
        fee_fixed=fee_fixed,
        code_id=code_id,
        discount=discount,
        checkout_session_id=checkout_session_id,
        payment_intent_id=payment_intent_id or None,
        charge_id=charge_id,
        card_brand=card_brand,
        card_last4=card_last4,
        balance_transaction_id=fees.balance_transaction_id if fees else "",
        stripe_fee=fees.stripe_fee if fees else None,
        seller_net=fees.net if fees else None,
        settlement_currency=fees.currency if fees else "",
    )
    slots = bundle_slots(product) if product.is_bundle else product.slots.all()
    if not grant_files(store=store, purchase=purchase, slots=slots) and product.file:
        _grant_legacy(store=store, purchase=purchase, product=product)
    code_text = ""
    if code_id is not None:
        _code_redeem(code_id=code_id, purchase=purchase, session_id=checkout_session_id)
        code_text = DiscountCode.objects.values_list("code", flat=True).get(pk=code_id).upper()
    ledger_entry_record(
        store_id=store.pk,
        checkout_session_id=checkout_session_id,
        payment_intent_id=payment_intent_id,
        purchase_uid=purchase.uid,
        product_title=product.title,
        amount=purchase.amount,
        platform_fee=purchase.platform_fee,
        currency=purchase.currency,
        fee_percent=purchase.fee_percent,
        fee_fixed=purchase.fee_fixed,
        status=purchase.status,
        created_at=purchase.created_at,
        discount_code=code_text,
        discount=discount,
    )
    purchase_id, schema = purchase.pk, store.schema_name
    fetch_fees = fees is None and bool(charge_id)  # Stripe had no balance transaction yet
    transaction.on_commit(lambda: _after_sale(purchase_id, schema=schema, fetch_fees=fetch_fees))
    return purchase


def grant_files(
    *, store: Store, purchase: Purchase, slots: Iterable[FileSlot | int]
) -> list[DownloadGrant]:
    """The purchase's download grants for these files (FileSlots or their ids): one per
    (purchase, file), each serving the file's current version, with the file's own
    limit, and a stamped copy queued when the file's product stamps. Idempotent and
    safe under concurrency (the (purchase, slot) unique constraint; ON CONFLICT DO
    NOTHING): calling it again, or at once from two places, makes nothing twice.

    The one way grants are made: a product's purchase grants its files; a bundle's
    purchase may pass every file of every product it includes. Files without a version
    yet are skipped. Returns every grant the purchase has for these files, in order.
    """
    ids = [slot if isinstance(slot, int) else slot.pk for slot in slots]
    found = list(
        FileSlot.objects.filter(pk__in=ids, current__isnull=False)
        .select_related("product")
        .order_by("product_id", "position", "id")
    )
    by_id = {slot.pk: slot for slot in found}
    ordered = [by_id[i] for i in dict.fromkeys(ids) if i in by_id]
    with cells.atomic():
        have = set(
            DownloadGrant.objects.filter(purchase=purchase, slot__in=by_id).values_list(
                "slot_id", flat=True
            )
        )
        new = []
        for slot in ordered:
            if slot.pk in have:
                continue
            salt = new_salt()
            token = grant_token(schema=store.schema_name, purchase_uid=str(purchase.uid), salt=salt)
            new.append(
                DownloadGrant(
                    purchase=purchase,
                    slot=slot,
                    version_id=slot.current_id,
                    salt=salt,
                    token_hash=token_hash(token),
                    download_limit=slot.download_limit,
                )
            )
        if new:
            DownloadGrant.objects.bulk_create(new, ignore_conflicts=True)
        grants = {
            g.slot_id: g
            for g in DownloadGrant.objects.filter(purchase=purchase, slot__in=by_id).select_related(
                "stamped"
            )
        }
        stamp = [
            StampedCopy(
                purchase=purchase, grant=grants[slot.pk], version_id=grants[slot.pk].version_id
            )
            for slot in ordered
            if slot.product.stamping
            and slot.pk in grants
            and getattr(grants[slot.pk], "stamped", None) is None
        ]
        if stamp:
            StampedCopy.objects.bulk_create(stamp, ignore_conflicts=True)
            _queue_stamping(purchase.pk, schema=store.schema_name)
    return [grants[slot.pk] for slot in ordered if slot.pk in grants]


def _grant_legacy(*, store: Store, purchase: Purchase, product: Product) -> DownloadGrant:
    """A grant for a product whose file was written without a FileSlot (by hand, not by
    catalog.services): it serves the product's current file."""
    salt = new_salt()
    grant = DownloadGrant.objects.create(
        purchase=purchase,
        salt=salt,
        token_hash=token_hash(
            grant_token(schema=store.schema_name, purchase_uid=str(purchase.uid), salt=salt)
        ),
        download_limit=product.download_limit,
    )
    if product.stamping:
        StampedCopy.objects.create(purchase=purchase, grant=grant)
        _queue_stamping(purchase.pk, schema=store.schema_name)
    return grant


def _queue_stamping(purchase_id: int, *, schema: str) -> None:
    def queue() -> None:
        from . import tasks

        with schema_context(schema):
            tasks.stamp_purchase.delay(purchase_id)

    transaction.on_commit(queue)


def purchase_free(
    *, store: Store, product: Product, code: str, email: str, attempt: str
) -> tuple[Purchase, bool]:
    """A free order with a 100 % code: no Stripe payment, and still one purchase, one
    grant, one ledger row (fee 0) and one counted use. Returns (purchase, created).

    Idempotent per `attempt` (the product page's form id): a repeated click finds the
    order it made. The code's row lock orders concurrent claims, so a limited code's
    last use goes to one buyer, and a one-per-email code to each email once. The view
    rate-limits it per IP and per email.
    """
    email = email.strip().lower()
    if not store.is_active:
        raise ValidationError("This store is not taking orders right now.")
    if not product.is_published:
        raise ValidationError("This product is not for sale.")
    if not _EMAIL.match(email) or len(email) > 254:
        raise ValidationError("Enter the email address the download link should go to.")
    order_id = f"free_{attempt}"
    with cells.atomic():
        quote = discount_quote(product=product, code=code, lock=True)
        if not quote.is_free:
            raise ValidationError("This code does not make the product free.")
        existing = Purchase.objects.filter(checkout_session_id=order_id).first()
        if existing is not None:
            return existing, False
        _code_claims(quote.code, attempt=attempt, email=email)
        rule = fee_rule(
            currency=product.currency, store_percent=store.fee_percent, store_fixed=store.fee_fixed
        )
        purchase = _purchase_make(
            store=store,
            product=product,
            buyer_email=email,
            amount=0,
            currency=product.currency,
            platform_fee=rule.fee_for(0),
            fee_percent=str(rule.percent),
            fee_fixed=rule.fixed,
            code_id=quote.code.pk,
            discount=quote.discount,
            checkout_session_id=order_id,
        )
    return purchase, True


def suspended_payment_refund(
    *, store: Store, session: CheckoutSession, record: CheckoutRecord
) -> PaymentIncident:
    """Refund a payment a suspended store cannot deliver, platform fee included; once.

    Recorded first (so the console shows it even if Stripe is down and the event is
    retried), refunded at Stripe with no transaction open (the refund's idempotency key
    makes repeats one refund), then the buyer is told why by email.
    """
    account = connected_account_for(store)
    incident = incident_record(
        kind=PaymentIncident.Kind.SUSPENDED_REFUND,
        checkout_session_id=session.id,
        store_id=store.pk,
        account_id=account.stripe_account_id if account else "",
        payment_intent_id=session.payment_intent_id,
        amount=session.amount_total,
        currency=session.currency,
        fee=session.application_fee_amount,
        buyer_email=session.customer_email,
        detail="Paid after the store was suspended: refunded in full, platform fee included.",
    )
    if not incident.refund_id and account is not None and session.payment_intent_id:
        refund = stripe_client.refund_create(
            account_id=account.stripe_account_id,
            payment_intent_id=session.payment_intent_id,
            refund_application_fee=True,
            reason=f"Store suspended ({session.id})",
        )
        incident_refunded(incident_id=incident.pk, refund_id=refund.id)
    CheckoutRecord.objects.filter(pk=record.pk).update(status=CheckoutRecord.Status.REFUNDED)
    if session.payment_intent_id:
        charge_state_record(payment_intent_id=session.payment_intent_id, refunded=True)
    incident_id = incident.pk

    def queue() -> None:
        from . import tasks

        with schema_context("public"):
            tasks.suspended_refund_notify.delay(incident_id)

    transaction.on_commit(queue)
    return incident


def suspended_refund_notify(*, incident_id: int) -> bool:
    """Tell the buyer their payment to a suspended store came back; once."""
    with claimed(f"incident-mail:{incident_id}") as mine:
        if not mine:
            return False
        incident = PaymentIncident.objects.select_related("store").get(pk=incident_id)
        if incident.buyer_notified_at or not incident.buyer_email or not incident.refund_id:
            return False
        send_mail(
            subject=f"Your payment to {incident.store.name} was refunded",
            message=render_to_string(
                "payments/email/suspended_refund.txt",
                {
                    "incident": incident,
                    "store": incident.store,
                    "amount": format_amount(incident.amount, incident.currency),
                },
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[incident.buyer_email],
        )
        incident_mark_notified(incident_id=incident_id)
    return True


def _after_sale(purchase_id: int, *, schema: str, fetch_fees: bool = False) -> None:
    from . import tasks

    # on_commit runs when the outermost transaction commits, maybe in another schema by
    # then; tasks carry the schema they are queued in (tenant-schemas-celery). Stamping
    # is queued by grant_files.
    with schema_context(schema):
        tasks.send_receipt.delay(purchase_id)
        tasks.notify_seller.delay(purchase_id)
        if fetch_fees:
            tasks.fetch_charge_fees.apply_async((purchase_id,), countdown=60)


def receipt_send(*, store: Store, purchase_id: int) -> bool:
    """The buyer's receipt, once. Mail goes out with no transaction or row lock held."""
    with claimed(f"receipt:{store.schema_name}:{purchase_id}") as mine:
        if not mine:
            return False  # another worker is sending it right now
        purchase = purchases_with_files(Purchase.objects.select_related("code")).get(pk=purchase_id)
        if purchase.receipt_sent_at:
            return False
        links = download_links(purchase, store=store)
        context = {
            "purchase": purchase,
            "store": store,
            "links": links,
            "download_url": links[0].url if links else "",
        }
        message = EmailMultiAlternatives(
            subject=f"Your receipt from {store.name}: {purchase.product.title}",
            body=render_to_string("payments/email/receipt.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[purchase.buyer_email],
            # The buyer's "Reply" reaches the seller, not the platform's no-reply address.
            reply_to=[store.support_email] if store.support_email else None,
        )
        message.attach_alternative(
            render_to_string("payments/email/receipt.html", context), "text/html"
        )
        message.send()
        Purchase.objects.filter(pk=purchase_id).update(receipt_sent_at=timezone.now())
    return True


def receipt_resend(*, store: Store, purchase_id: int) -> bool:
    Purchase.objects.filter(pk=purchase_id).update(receipt_sent_at=None)
    return receipt_send(store=store, purchase_id=purchase_id)


def seller_notify(*, store: Store, purchase_id: int) -> bool:
    """The seller's "new sale" email, once, when they asked for it."""
    if not store.notify_on_sale or store.owner_id is None:
        return False
    with claimed(f"sale-notice:{store.schema_name}:{purchase_id}") as mine:
        if not mine:
            return False
        purchase = Purchase.objects.select_related("product", "code").get(pk=purchase_id)
        if purchase.seller_notified_at:
            return False
        send_mail(
            subject=f"New sale: {purchase.product.title} ({purchase.amount_display})",
            message=render_to_string(
                "payments/email/sale.txt", {"purchase": purchase, "store": store}
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[store.owner.email],
        )
        Purchase.objects.filter(pk=purchase_id).update(seller_notified_at=timezone.now())
    return True


def store_reconcile(*, store: Store, lookback_hours: int = 72) -> int:
    """Checkout Sessions completed at Stripe with no purchase here get one (if ours)."""
    account = connected_account_for(store)
    if account is None or account.deauthorized_at:
        return 0
    since = int(time.time()) - lookback_hours * 3600
    made = 0
    for session in stripe_client.checkout_sessions_completed_since(
        account_id=account.stripe_account_id, since=since
    ):
        if not session.is_paid:
            continue
        if Purchase.objects.filter(checkout_session_id=session.id).exists():
            continue
        try:
            _, created = purchase_fulfil(store=store, session=session)
        except (NotOurs, StoreSuspended):
            continue
        made += int(created)
    if made:
        logger.warning("Reconciliation created %s purchases in %s", made, store.schema_name)
    return made


def purchase_confirm(*, store: Store, session_id: str) -> Purchase | None:
    """The thank-you page asks Stripe itself, so no buyer waits for a webhook."""
    existing = Purchase.objects.filter(checkout_session_id=session_id).first()
    if existing is not None:
        return existing
    # Only a session we recorded can be fulfilled: never let a visitor's made-up id cost
    # a Stripe call on the store's account (the webhook reports the ones we did not make).
    if not CheckoutRecord.objects.filter(session_id=session_id).exists():
        return None
    account = connected_account_for(store)
    if account is None:
        return None
    session = stripe_client.checkout_session_retrieve(
        account_id=account.stripe_account_id, session_id=session_id
    )
    if not session.is_paid:
        return None
    try:
        purchase, _ = purchase_fulfil(store=store, session=session)
    except StoreSuspended:
        return None
    return purchase


def _set_status(purchase: Purchase, status: str, *, revoke_reason: str = "") -> None:
    """Set a purchase's status and its grant's lock; RESTORE lifts only dispute locks."""
    now = timezone.now()
    was = purchase.status
    purchase.status = status
    if purchase.code_id and (was == Purchase.Status.REFUNDED) != (
        status == Purchase.Status.REFUNDED
    ):
        code_use_refunded(purchase, refunded=status == Purchase.Status.REFUNDED)
    if status == Purchase.Status.REFUNDED and not purchase.refunded_at:
        purchase.refunded_at = now
        metrics.refund(outcome="recorded")
    if status == Purchase.Status.DISPUTED and not purchase.disputed_at:
        purchase.disputed_at = now
    purchase.save(update_fields=["status", "refunded_at", "disputed_at"])
    grant = DownloadGrant.objects.filter(purchase=purchase)
    if revoke_reason:
        grant.filter(revoked_at__isnull=True).update(revoked_at=now, revoked_reason=revoke_reason)
        # A pause that became final (or the other way round) says so.
        grant.filter(revoked_reason__in=DISPUTE_REASONS.values()).exclude(
            revoked_reason=revoke_reason
        ).update(revoked_reason=revoke_reason)
    else:
        grant.filter(revoked_reason__in=DISPUTE_REASONS.values()).update(
            revoked_at=None, revoked_reason=""
        )
    ledger_status_set(checkout_session_id=purchase.checkout_session_id, status=status)


def _apply_charge_state(purchase: Purchase, state: ChargeState) -> None:
    if state.charge_id and not purchase.charge_id:
        purchase.charge_id = state.charge_id
        purchase.save(update_fields=["charge_id"])
    if state.refunded:
        if purchase.status != Purchase.Status.REFUNDED:
            _set_status(purchase, Purchase.Status.REFUNDED, revoke_reason="refunded")
        return
    if not state.dispute_status or purchase.status == Purchase.Status.REFUNDED:
        return
    access = dispute_access(state.dispute_status)
    if access == RESTORE:
        if purchase.status == Purchase.Status.DISPUTED:
            _set_status(purchase, Purchase.Status.PAID)
    else:
        reason = DISPUTE_REASONS[access]
        current = DownloadGrant.objects.filter(purchase=purchase).values_list(
            "revoked_reason", flat=True
        )
        if purchase.status != Purchase.Status.DISPUTED or reason not in current:
            _set_status(purchase, Purchase.Status.DISPUTED, revoke_reason=reason)


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
    with cells.atomic():
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


def download_reset(*, purchase: Purchase) -> None:
    DownloadGrant.objects.filter(purchase=purchase).update(download_count=0)


# --- The paywall --------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadDecision:
    allowed: bool
    # ok / unknown / refunded / disputed / chargeback / revoked / expired / limit / preparing
    reason: str
    grant: DownloadGrant | None = None
    file_name: str = ""  # the storage name to deliver, when allowed
    filename: str = ""  # what the buyer's browser saves it as


def download_url_for(
    purchase: Purchase, *, store: Store, grant: DownloadGrant | None = None
) -> str:
    """The link of one of the purchase's files (its first file's when `grant` is None)."""
    return f"{store.url}/d/{download_token_for(purchase, store=store, grant=grant)}/"


def download_token_for(
    purchase: Purchase, *, store: Store, grant: DownloadGrant | None = None
) -> str:
    grant = grant or purchase.grant
    if grant is None:
        raise DownloadGrant.DoesNotExist(f"purchase {purchase.pk} has no grant")
    return grant_token(schema=store.schema_name, purchase_uid=str(purchase.uid), salt=grant.salt)


@dataclass(frozen=True)
class DownloadLink:
    """One file of a purchase as a buyer sees it: its name, link, count and limit."""

    name: str
    url: str
    grant: DownloadGrant

    @property
    def file_name(self) -> str:
        version = self.grant.version
        return version.file_name if version else ""


def download_links(purchase: Purchase, *, store: Store) -> list[DownloadLink]:
    """Every file the purchase gives, in the seller's order. Uses prefetched
    `grants__slot` / `grants__version` when the caller made them (purchases_with_files)."""
    grants = sorted(
        purchase.grants.all(),
        key=lambda g: (
            (g.slot.product_id != purchase.product_id, g.slot.product_id, g.slot.position)
            if g.slot
            else (False, 0, 0),
            g.slot_id or 0,
            g.pk,
        ),
    )
    return [
        DownloadLink(
            name=_link_name(g, purchase),
            url=download_url_for(purchase, store=store, grant=g),
            grant=g,
        )
        for g in grants
    ]


def _link_name(grant: DownloadGrant, purchase: Purchase) -> str:
    """A file's name as the buyer sees it; a bundle's file says which product it is of."""
    if grant.slot is None:
        return purchase.product.title
    if grant.slot.product_id != purchase.product_id:
        return f"{grant.slot.product.title}: {grant.slot.name}"
    return grant.slot.name


def purchases_with_files(queryset):
    """Purchases with what download_links needs, in a fixed number of queries."""
    return queryset.select_related("product").prefetch_related(
        "grants__slot__product", "grants__version"
    )


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


def _grant_version(grant: DownloadGrant):
    """The version a grant serves: its own; a migrated or hand-made grant without one
    serves its file's current version."""
    if grant.version is not None:
        return grant.version
    if grant.slot is not None and grant.slot.current is not None:
        return grant.slot.current
    return None


def _grant_product(grant: DownloadGrant) -> Product:
    # A bundle's grant is for a file of another product than the one bought.
    return grant.slot.product if grant.slot is not None else grant.purchase.product


def download_authorize(*, token: str, ip: str | None, user_agent: str) -> DownloadDecision:
    """Check the grant in this store's schema, count the download atomically, log it.

    Two queries: the grant with everything the answer needs (one join), and the
    count-and-log statement."""
    if not token or len(token) > 128:
        return DownloadDecision(False, "unknown")
    grant = (
        DownloadGrant.objects.select_related(
            "purchase__product", "slot__product", "slot__current", "version", "stamped"
        )
        .filter(token_hash=token_hash(token))
        .first()
    )
    if grant is None:
        return DownloadDecision(False, "unknown")
    if grant.revoked_at:
        return DownloadDecision(False, grant.revoked_reason or "revoked", grant)
    if grant.expires_at and grant.expires_at <= timezone.now():
        return DownloadDecision(False, "expired", grant)
    if _grant_product(grant).stamping and not _stamped_ready(grant):
        return DownloadDecision(False, "preparing", grant)
    if getattr(connection.tenant, "moving_to", ""):
        # The store is in a move's read-only window (tenants.moves): serve the download,
        # and count and log it in the store's new cell when the move ends.
        return _download_deferred(grant, ip=ip, user_agent=user_agent)
    # One statement counts and logs: the UPDATE's row lock decides between concurrent
    # clicks (none can pass the limit), and the log row exists only if the count rose.
    sql = _COUNT_AND_LOG.format(
        grants=DownloadGrant._meta.db_table, logs=DownloadLog._meta.db_table
    )
    # The store's own connection: its schema may be in another cell (tenants.cells).
    try:
        with connections[cells.current_alias()].cursor() as cursor:
            cursor.execute(sql, [grant.pk, timezone.now(), ip, user_agent[:300]])
            counted = cursor.fetchone() is not None
    except DatabaseError as exc:
        # The store row this request read predates its move's read-only window, and the
        # source schema now refuses writes (tenants.moves): count it after the move.
        if getattr(exc.__cause__, "pgcode", "") != "25006":
            raise
        return _download_deferred(grant, ip=ip, user_agent=user_agent)
    if not counted:
        return DownloadDecision(False, "limit", grant)
    return DownloadDecision(True, "ok", grant)


def _download_deferred(
    grant: DownloadGrant, *, ip: str | None, user_agent: str
) -> DownloadDecision:
    if grant.download_limit is not None and grant.download_count >= grant.download_limit:
        return DownloadDecision(False, "limit", grant)
    DeferredDownload.objects.create(
        schema_name=connection.schema_name,
        grant_id=grant.pk,
        at=timezone.now(),
        ip=ip,
        user_agent=user_agent[:300],
    )
    return DownloadDecision(True, "ok", grant)


def downloads_deferred_apply(store: Store) -> int:
    """Count and log the downloads served during the store's move (DeferredDownload), in
    its cell now; returns how many. Each row is deleted once its count committed (a crash
    in between counts that one download again on the next run: never one lost)."""
    applied = 0
    sql = _COUNT_AND_LOG.format(
        grants=DownloadGrant._meta.db_table, logs=DownloadLog._meta.db_table
    )
    rows = list(DeferredDownload.objects.filter(schema_name=store.schema_name))
    if not rows:
        return 0
    with cells.in_store(store) as cell:
        for row in rows:
            with transaction.atomic(using=cell.alias), cell.cursor() as cursor:
                cursor.execute(sql, [row.grant_id, row.at, row.ip, row.user_agent])
            DeferredDownload.objects.filter(pk=row.pk).delete()
            applied += 1
    return applied


def _stamped_ready(grant: DownloadGrant) -> bool:
    stamped = getattr(grant, "stamped", None)
    if stamped is None or stamped.state != StampedCopy.State.READY or not stamped.file:
        return False
    version = _grant_version(grant)
    # A copy made from an earlier version (the grant moved on) is made again first.
    return stamped.version_id is None or version is None or stamped.version_id == version.pk


# The usual case in one statement: a grant that may be downloaded now (not revoked, not
# expired, under its limit, and when its product stamps, its stamped copy ready and made
# from the grant's version) is counted and logged, and what to deliver comes back. The
# version and product are chosen as _grant_version() and _grant_product() do. No row:
# nothing was counted, and download_authorize() (the checks one by one) says why, or
# counts it if the grant changed in between. The UPDATE re-checks revocation and the limit
# on the row it locks, so concurrent clicks never pass the limit (as in _COUNT_AND_LOG).
_OPEN_FAST = """
WITH hit AS (
    SELECT g.id, pr.stamping, pr.slug, s.file AS stamped_file,
           CASE WHEN v.id IS NULL THEN pr.file ELSE v.file END AS source,
           CASE WHEN v.id IS NULL THEN pr.file_name ELSE v.file_name END AS file_name
    FROM {grants} g
    JOIN {purchases} p ON p.id = g.purchase_id
    LEFT JOIN {slots} sl ON sl.id = g.slot_id
    JOIN {products} pr ON pr.id = COALESCE(sl.product_id, p.product_id)
    LEFT JOIN {versions} v ON v.id = COALESCE(g.version_id, sl.current_id)
    LEFT JOIN {stamped} s ON s.grant_id = g.id
    WHERE g.token_hash = %s AND g.revoked_at IS NULL
      AND (g.expires_at IS NULL OR g.expires_at > %s)
      AND (g.download_limit IS NULL OR g.download_count < g.download_limit)
      AND (NOT pr.stamping OR (
          s.state = %s AND COALESCE(s.file, '') <> ''
          AND (s.version_id IS NULL OR v.id IS NULL OR s.version_id = v.id)))
), counted AS (
    UPDATE {grants} SET download_count = download_count + 1
    WHERE id = (SELECT id FROM hit) AND revoked_at IS NULL
      AND (download_limit IS NULL OR download_count < download_limit)
    RETURNING id
), logged AS (
    INSERT INTO {logs} (grant_id, at, ip, user_agent)
    SELECT id, %s, %s, %s FROM counted
)
SELECT hit.stamping, hit.stamped_file, hit.source, hit.file_name, hit.slug
FROM hit JOIN counted ON counted.id = hit.id
"""


@functools.cache
def _open_fast_sql() -> str:
    return _OPEN_FAST.format(
        grants=DownloadGrant._meta.db_table,
        purchases=Purchase._meta.db_table,
        slots=FileSlot._meta.db_table,
        products=Product._meta.db_table,
        versions=ProductFile._meta.db_table,
        stamped=StampedCopy._meta.db_table,
        logs=DownloadLog._meta.db_table,
    )


def _download_fast(*, token: str, ip: str | None, user_agent: str) -> tuple | None:
    """_OPEN_FAST on the store's own connection (its schema may be in another cell), as a
    prepared statement (tenants.prepared: planning it was most of PostgreSQL's work per
    download); None when it counted nothing (refused, odd, or the schema is read-only in
    a move)."""
    now = timezone.now()
    params = [token_hash(token), now, StampedCopy.State.READY, now, ip, user_agent[:300]]
    try:
        return prepared.fetchone(cells.current_alias(), "open_fast", _open_fast_sql(), params)
    except DatabaseError as exc:
        # A move's read-only window began after this request read the store row: the
        # step-by-step path defers the count (download_authorize).
        if getattr(exc.__cause__, "pgcode", "") != "25006":
            raise
        return None


def _download_filename(file_name: str, slug: str) -> str:
    filename = file_name or f"{slug}.pdf"
    if not filename.lower().endswith(".pdf"):
        filename += ".pdf"
    return filename


def download_open(*, token: str, ip: str | None, user_agent: str) -> DownloadDecision:
    """The download page's one call: authorize and count, choose the file to deliver,
    and (for a stamped copy still being made) make sure the stamping task is queued.

    One statement when the download is allowed (`_OPEN_FAST`); a refusal, or a store in
    a move's read-only window (its count is deferred), takes the checks one by one."""
    if token and len(token) <= 128 and not getattr(connection.tenant, "moving_to", ""):
        row = _download_fast(token=token, ip=ip, user_agent=user_agent)
        if row is not None:
            stamping, stamped_file, source, file_name, slug = row
            return DownloadDecision(
                True,
                "ok",
                file_name=stamped_file if stamping else source,
                filename=_download_filename(file_name, slug),
            )
    decision = download_authorize(token=token, ip=ip, user_agent=user_agent)
    if decision.reason == "preparing" and decision.grant is not None:
        purchase_id = decision.grant.purchase_id
        # The task is idempotent; queue it again at most every 15 s per purchase, so a
        # copy whose first task was lost (or failed) still gets made while the buyer waits.
        if cache.add(f"stamp-kick:{connection.schema_name}:{purchase_id}", 1, 15):
            from . import tasks

            tasks.stamp_purchase.delay(purchase_id)
        return decision
    if not decision.allowed or decision.grant is None:
        return decision
    grant = decision.grant
    product = _grant_product(grant)
    version = _grant_version(grant)
    source = version.file.name if version is not None else product.file.name
    return DownloadDecision(
        True,
        "ok",
        grant,
        file_name=grant.stamped.file.name if product.stamping else source,
        filename=_download_filename(
            version.file_name if version is not None else product.file_name, product.slug
        ),
    )


# --- Buyer library (magic links) ------------------------------------------------------------

LIBRARY_TTL = timedelta(hours=24)


def library_link_send(*, store: Store, email: str) -> bool:
    """Email a magic link when this email bought here; nothing otherwise.

    Queued by the library page for every well-formed address (a task), so the page
    answers in the same time whether or not the email bought here.
    """
    token = library_link_create(email=email)
    if token is None:
        return False
    send_mail(
        subject=f"Your purchases at {store.name}",
        message=render_to_string(
            "payments/email/library.txt",
            {"store": store, "link": f"{store.url}/library/{token}/"},
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[email.strip().lower()],
    )
    return True


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


# --- A new version for past buyers ----------------------------------------------------------
# The seller uploads a new version of a file and chooses that past buyers get it
# (catalog.services.product_file_replace → catalog.hooks → version_given). After the
# commit a task moves the past buyers' grants to it and writes one UpdateNotice per
# buyer (email); batches of notices are then sent by other tasks. Each notice is claimed
# with a conditional UPDATE before its email goes out, so a buyer gets one email however
# many workers send at once.

NOTICE_BATCH = 100
_OPTOUT_SALT = "payments.update-optout"


def version_given(version_id: int) -> None:
    """catalog.hooks handler: deliver the version once the upload has committed."""
    schema = connection.schema_name

    def queue() -> None:
        from . import tasks

        with schema_context(schema):
            tasks.version_deliver.delay(version_id)

    transaction.on_commit(queue)


def version_deliver(*, store: Store, version_id: int) -> int:
    """Give a version to the file's past buyers and queue their emails in batches;
    returns how many emails were queued."""
    pending = version_give(version_id=version_id)
    from . import tasks

    for start in range(0, len(pending), NOTICE_BATCH):
        tasks.send_update_notices.delay(pending[start : start + NOTICE_BATCH])
    return len(pending)


def version_give(*, version_id: int) -> list[int]:
    """Move the file's past buyers' grants to this version (their downloads start again
    from the limit; stamped copies are made again from it) and write one UpdateNotice
    per buyer email. Returns the ids of the notices still to send. Idempotent: grants
    already on it (or on a newer one) are left, a notice exists once per (version, email).
    """
    version = ProductFile.objects.select_related("slot__product").get(pk=version_id)
    if version.slot is None or not version.given_to_past_buyers:
        return []
    with cells.atomic():
        older = DownloadGrant.objects.filter(slot=version.slot).filter(
            Q(version__isnull=True) | Q(version__created_at__lt=version.created_at)
        )
        moved = list(older.values_list("pk", flat=True))
        # A new version is a new file: its downloads start again from the limit.
        DownloadGrant.objects.filter(pk__in=moved).update(version=version, download_count=0)
        StampedCopy.objects.filter(grant_id__in=moved).update(
            version=version, state=StampedCopy.State.PENDING
        )
        # One email per buyer, carrying the link of their newest purchase of the file.
        newest: dict[str, int] = {}
        for grant_id, email in (
            DownloadGrant.objects.filter(
                slot=version.slot,
                version=version,
                revoked_at__isnull=True,
                purchase__status=Purchase.Status.PAID,
                purchase__created_at__lt=version.created_at,
            )
            .order_by("purchase__created_at", "pk")
            .values_list("pk", "purchase__buyer_email")
        ):
            newest[email.lower()] = grant_id
        opted_out = set(
            UpdateOptOut.objects.filter(email__in=list(newest)).values_list("email", flat=True)
        )
        UpdateNotice.objects.bulk_create(
            [
                UpdateNotice(
                    version=version,
                    email=email,
                    grant_id=grant_id,
                    skipped="unsubscribed" if email in opted_out else "",
                )
                for email, grant_id in newest.items()
            ],
            ignore_conflicts=True,
        )
    return list(
        UpdateNotice.objects.filter(version=version, sent_at__isnull=True, skipped="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def optout_token(*, schema: str, email: str) -> str:
    """The unsubscribe link's token: signed, names the store's schema and the email."""
    return signing.dumps({"s": schema, "e": email.strip().lower()}, salt=_OPTOUT_SALT)


def optout_email(*, token: str, schema: str) -> str | None:
    """The email an unsubscribe token stands for, in this store only; None if not valid."""
    try:
        data = signing.loads(token, salt=_OPTOUT_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("s") != schema or not data.get("e"):
        return None
    return str(data["e"])


def optout_record(*, email: str) -> None:
    UpdateOptOut.objects.get_or_create(email=email.strip().lower())


def update_notices_send(*, store: Store, notice_ids: list[int]) -> int:
    """Send these update emails, each once: returns how many this call sent.

    A notice is claimed (claimed_at set where it was empty: one UPDATE, so of two workers
    only one gets the row) before its email is sent, and marked sent after. A failed send
    gives the claim back and raises (the task retries; sent ones are not sent again)."""
    sent = 0
    for notice_id in notice_ids:
        claimed = UpdateNotice.objects.filter(
            pk=notice_id, claimed_at__isnull=True, sent_at__isnull=True, skipped=""
        ).update(claimed_at=timezone.now())
        if not claimed:
            continue
        notice = UpdateNotice.objects.select_related(
            "grant__purchase__product", "grant__slot", "version"
        ).get(pk=notice_id)
        if UpdateOptOut.objects.filter(email=notice.email).exists():
            UpdateNotice.objects.filter(pk=notice_id).update(skipped="unsubscribed")
            continue
        try:
            _update_email(store=store, notice=notice).send()
        except BaseException:
            UpdateNotice.objects.filter(pk=notice_id, sent_at__isnull=True).update(claimed_at=None)
            raise
        UpdateNotice.objects.filter(pk=notice_id).update(sent_at=timezone.now())
        sent += 1
    return sent


def _update_email(*, store: Store, notice: UpdateNotice) -> EmailMultiAlternatives:
    grant = notice.grant
    purchase = grant.purchase
    unsubscribe = (
        f"{store.url}/updates/unsubscribe/"
        f"{optout_token(schema=store.schema_name, email=notice.email)}/"
    )
    context = {
        "store": store,
        "product": grant.slot.product if grant.slot else purchase.product,
        "file_name": grant.slot.name if grant.slot else "",
        "version": notice.version,
        "download_url": download_url_for(purchase, store=store, grant=grant),
        "unsubscribe_url": unsubscribe,
    }
    message = EmailMultiAlternatives(
        subject=f"A new version of {context['product'].title} from {store.name}",
        body=render_to_string("payments/email/update.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notice.email],
        reply_to=[store.support_email] if store.support_email else None,
        # RFC 8058 one-click unsubscribe: mail clients POST to the link themselves.
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(render_to_string("payments/email/update.html", context), "text/html")
    return message


def version_notice_counts(version_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Per version given to past buyers: emails sent, still queued, and skipped
    (unsubscribed); the seller's product page shows them (catalog.hooks)."""
    rows = (
        UpdateNotice.objects.filter(version_id__in=list(version_ids))
        .values("version_id")
        .annotate(
            total=Count("pk"),
            sent=Count("pk", filter=Q(sent_at__isnull=False)),
            skipped=Count("pk", filter=~Q(skipped="")),
        )
    )
    return {
        row["version_id"]: {
            "sent": row["sent"],
            "skipped": row["skipped"],
            "queued": row["total"] - row["sent"] - row["skipped"],
        }
        for row in rows
    }
