"""The seller's money as Stripe has it: each sale's processing fee and net, the balance,
the payouts. Read on the store's connected account (a direct charge's fees are the
seller's, STRIPE-FACTS 2.1, 10).

A sale's fee comes from its charge's balance transaction. Fulfilment reads it from the
session (expanded `payment_intent.latest_charge.balance_transaction`); when Stripe has not
made the transaction yet (some payment methods), `purchase_fees_fetch` asks again: queued
after the sale, on `charge.updated` (Stripe's word that the charge changed), and from beat
for sales still without one. Recording is idempotent: the first answer stays.

The balance and the last payouts are shown on the dashboard, cached for a minute per
account (the default cache carries the store's schema in its keys as well).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone

from payments.platform.services import connected_account_for
from tenants.models import Store

from . import stripe_client
from .models import Purchase
from .stripe_client import Balance, ChargeFees, Payout, StripeFailure

logger = logging.getLogger(__name__)

BALANCE_TTL = 60
BACKFILL_DAYS = 14
BACKFILL_BATCH = 50


def purchase_fees_record(*, purchase_id: int, fees: ChargeFees) -> bool:
    """Put the charge's fee and net on the purchase, once; whether this call did."""
    return bool(
        Purchase.objects.filter(pk=purchase_id, stripe_fee__isnull=True).update(
            balance_transaction_id=fees.balance_transaction_id[:100],
            stripe_fee=fees.stripe_fee,
            seller_net=fees.net,
            settlement_currency=fees.currency[:3],
        )
    )


def purchase_fees_fetch(*, store: Store, purchase_id: int) -> str:
    """Ask Stripe for the sale's balance transaction if the purchase has none yet."""
    purchase = Purchase.objects.filter(pk=purchase_id).only("pk", "charge_id", "stripe_fee").first()
    if purchase is None:
        return "gone"
    if purchase.stripe_fee is not None:
        return "recorded"
    if not purchase.charge_id:
        return "no charge"  # a free order, or a charge Stripe has not named yet
    account = connected_account_for(store)
    if account is None:
        return "no account"
    fees = stripe_client.charge_fees(
        account_id=account.stripe_account_id, charge_id=purchase.charge_id
    )
    if fees is None:
        return "not settled yet"
    purchase_fees_record(purchase_id=purchase.pk, fees=fees)
    return "recorded"


def charge_fees_update(*, store: Store, charge: dict) -> str:
    """charge.updated: a sale whose charge now has its balance transaction gets its fees."""
    if not charge.get("balance_transaction"):
        return "no balance transaction yet"
    purchase_id = (
        Purchase.objects.filter(charge_id=charge.get("id") or "-", stripe_fee__isnull=True)
        .values_list("pk", flat=True)
        .first()
    )
    if purchase_id is None and charge.get("payment_intent"):
        purchase_id = (
            Purchase.objects.filter(
                payment_intent_id=charge["payment_intent"], stripe_fee__isnull=True
            )
            .values_list("pk", flat=True)
            .first()
        )
    if purchase_id is None:
        return "no sale waiting for fees"
    if isinstance(charge["balance_transaction"], dict):
        fees = ChargeFees.from_stripe(charge["balance_transaction"])
        if fees is not None:
            purchase_fees_record(purchase_id=purchase_id, fees=fees)
            return "fees recorded"
    # The event names the transaction only by id: read it as Stripe has it now.
    Purchase.objects.filter(pk=purchase_id, charge_id="").update(charge_id=charge.get("id") or "")
    return f"fees {purchase_fees_fetch(store=store, purchase_id=purchase_id)}"


def store_fees_backfill(*, store: Store) -> int:
    """Beat: recent paid sales still without fees ask Stripe again; how many got them."""
    since = timezone.now() - timedelta(days=BACKFILL_DAYS)
    ids = list(
        Purchase.objects.filter(stripe_fee__isnull=True, created_at__gte=since)
        .exclude(charge_id="")
        .values_list("pk", flat=True)[:BACKFILL_BATCH]
    )
    done = 0
    for purchase_id in ids:
        try:
            done += purchase_fees_fetch(store=store, purchase_id=purchase_id) == "recorded"
        except StripeFailure as exc:
            if not exc.retryable:
                logger.warning("No fees for purchase %s: %s", purchase_id, exc)
            break  # Stripe is unwell or access is gone: next round
    return done


@dataclass(frozen=True)
class Money:
    """The seller's Stripe balance and last payouts; `error` when Stripe did not answer."""

    balance: Balance | None
    payouts: list[Payout]
    error: str = ""


def store_money(*, store: Store) -> Money | None:
    """The connected account's balance and latest payouts, cached briefly; None without
    an account. A Stripe failure is said, not raised: the dashboard still shows."""
    account = connected_account_for(store)
    if account is None or account.deauthorized_at:
        return None
    key = f"stripe-money:{account.stripe_account_id}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    try:
        money = Money(
            balance=stripe_client.balance_retrieve(account_id=account.stripe_account_id),
            payouts=stripe_client.payouts_list(account_id=account.stripe_account_id, limit=5),
        )
    except StripeFailure as exc:
        return Money(balance=None, payouts=[], error=exc.user_message)
    cache.set(key, money, BALANCE_TTL)
    return money
