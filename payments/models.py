from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from catalog.models import DiscountCode, Product
from catalog.money import format_amount


class PurchaseStatus(models.TextChoices):
    """A sale's state: the purchase's (store schema), its fee-ledger row's (public schema)
    and the console's filters and totals use this one vocabulary."""

    PAID = "paid", "Paid"
    REFUNDED = "refunded", "Refunded"
    DISPUTED = "disputed", "Disputed"


# Stripe's `payment_method_details.card.brand` values, as buyers know them.
CARD_BRANDS = {
    "amex": "American Express",
    "cartes_bancaires": "Cartes Bancaires",
    "diners": "Diners Club",
    "discover": "Discover",
    "eftpos_au": "eftpos",
    "interac": "Interac",
    "jcb": "JCB",
    "link": "Link",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}


class Purchase(models.Model):
    """One paid Checkout Session. Lives in the store's schema."""

    Status = PurchaseStatus

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="purchases")
    buyer_email = models.EmailField(db_index=True)
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    platform_fee = models.PositiveIntegerField()
    # The fee rule in force at the sale; later fee changes never rewrite history.
    fee_percent = models.DecimalField(max_digits=5, decimal_places=2)
    fee_fixed = models.PositiveIntegerField()
    # The discount code used and what it took off the list price (`amount` is what the
    # buyer paid; the fee was computed on it). A free order (100 % code) has amount 0, no
    # Stripe ids and a checkout_session_id of "free_<attempt>".
    code = models.ForeignKey(
        DiscountCode, on_delete=models.PROTECT, null=True, blank=True, related_name="purchases"
    )
    discount = models.PositiveIntegerField(default=0)
    checkout_session_id = models.CharField(max_length=100, unique=True)
    payment_intent_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    charge_id = models.CharField(max_length=100, blank=True, db_index=True)
    # The card the buyer paid with, for the receipt (the charge's payment_method_details).
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    # What the sale left in the seller's Stripe balance, from the charge's balance
    # transaction on their account: Stripe's processing fee and the net after it and the
    # platform fee, in the account's settlement currency. Empty until Stripe has made the
    # transaction (payments.balances fetches it at fulfilment, on charge.updated, or later).
    balance_transaction_id = models.CharField(max_length=100, blank=True)
    stripe_fee = models.PositiveIntegerField(null=True, blank=True)
    seller_net = models.IntegerField(null=True, blank=True)
    settlement_currency = models.CharField(max_length=3, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PAID)
    refunded_at = models.DateTimeField(null=True, blank=True)
    disputed_at = models.DateTimeField(null=True, blank=True)
    receipt_sent_at = models.DateTimeField(null=True, blank=True)
    seller_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.buyer_email} · {self.product_id} · {self.amount_display}"

    @property
    def amount_display(self) -> str:
        return format_amount(self.amount, self.currency)

    @property
    def fee_display(self) -> str:
        return format_amount(self.platform_fee, self.currency)

    @property
    def net(self) -> int:
        return self.amount - self.platform_fee

    @property
    def card_display(self) -> str:
        """ "Visa ending in 4242", or "" when the charge did not say."""
        if not self.card_last4:
            return ""
        brand = CARD_BRANDS.get(self.card_brand, self.card_brand.title() or "Card")
        return f"{brand} ending in {self.card_last4}"

    @property
    def list_amount(self) -> int:
        return self.amount + self.discount

    @property
    def discount_display(self) -> str:
        return format_amount(self.discount, self.currency)

    @property
    def list_amount_display(self) -> str:
        return format_amount(self.list_amount, self.currency)

    @property
    def is_free_order(self) -> bool:
        return self.checkout_session_id.startswith("free_")


class CheckoutRecord(models.Model):
    """A Checkout Session the platform created, written before the buyer is redirected.

    A seller's Standard account has its own API keys, so anyone holding them can create
    sessions that look like ours (`metadata[store]`, any price, no fee). Only sessions
    recorded here are fulfilled, and only when Stripe's amount, currency and application
    fee match the record. Store schema: the record belongs to the store whose account
    the session lives on, and only the platform writes it.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETE = "complete", "Paid"
        EXPIRED = "expired", "Expired"
        REFUNDED = "refunded", "Refunded (store suspended)"

    session_id = models.CharField(max_length=100, unique=True)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="checkouts")
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    fee = models.PositiveIntegerField()
    fee_percent = models.DecimalField(max_digits=5, decimal_places=2)
    fee_fixed = models.PositiveIntegerField()
    code = models.ForeignKey(
        DiscountCode, on_delete=models.PROTECT, null=True, blank=True, related_name="checkouts"
    )
    discount = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.session_id} {self.amount} {self.currency} fee {self.fee}"


class CodeHold(models.Model):
    """One use of a limited (or one-per-email) code, held for a checkout in progress.

    Taken under the code's row lock before the Checkout Session is created, so at most
    `max_uses` checkouts can be open or paid with a code at once: 20 buyers racing for
    the last 5 uses get 5 sessions and 15 "used up" answers. A hold lasts until shortly
    after its session expires (a session cannot be paid after its `expires_at`), then
    frees its use; fulfilment marks it used (`purchase`) and counts the code's use.
    """

    code = models.ForeignKey(DiscountCode, on_delete=models.CASCADE, related_name="holds")
    attempt = models.CharField(max_length=64, unique=True)
    email = models.EmailField(blank=True)
    session_id = models.CharField(max_length=100, blank=True, db_index=True)
    purchase = models.OneToOneField(
        "Purchase", on_delete=models.SET_NULL, null=True, blank=True, related_name="hold"
    )
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["code", "expires_at"])]


class ChargeState(models.Model):
    """What Stripe said about a payment before (or after) we saw its checkout completing.

    Events arrive in any order: a refund can come before `checkout.session.completed`.
    The refund/dispute is recorded here by payment intent, and purchase creation applies
    it, so the end state is the same whatever the order.
    """

    payment_intent_id = models.CharField(max_length=100, unique=True)
    charge_id = models.CharField(max_length=100, blank=True)
    refunded = models.BooleanField(default=False)
    dispute_status = models.CharField(max_length=32, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class DownloadGrant(models.Model):
    """The right to download a purchase's file.

    The link token is HMAC(SECRET_KEY, schema, purchase, salt): it can be shown again
    (thank-you page, receipt, library) without being stored; only its hash is kept, to
    find the grant. A new salt invalidates old links.
    """

    purchase = models.OneToOneField(Purchase, on_delete=models.CASCADE, related_name="grant")
    salt = models.CharField(max_length=32)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    download_limit = models.PositiveIntegerField(null=True, blank=True)
    download_count = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(download_limit__isnull=True)
                | models.Q(download_count__lte=models.F("download_limit")),
                name="grant_count_within_limit",
            )
        ]


class DownloadLog(models.Model):
    grant = models.ForeignKey(DownloadGrant, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)


class StampedCopy(models.Model):
    """The buyer-stamped PDF, made once per purchase by a task."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    purchase = models.OneToOneField(Purchase, on_delete=models.CASCADE, related_name="stamped")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    file = models.FileField(max_length=300, blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class LibraryToken(models.Model):
    """A "my purchases" magic link: emailed, hashed at rest, short-lived."""

    email = models.EmailField(db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
