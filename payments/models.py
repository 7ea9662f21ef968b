from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from catalog.models import DiscountCode, FileSlot, Product, ProductFile
from catalog.money import format_amount, to_decimal_string


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
    # Stripe Tax (the store's setting): the tax Stripe added on top of `amount` (the fee
    # was computed on `amount`, before tax), its rate in percent, its name ("VAT", "Sales
    # Tax") and the buyer's country. `tax_rate` is None when no tax was calculated.
    tax_amount = models.PositiveIntegerField(default=0)
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    tax_country = models.CharField(max_length=2, blank=True)
    tax_label = models.CharField(max_length=40, blank=True)
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
    # What Stripe has given back so far (failed refunds left out), and the part of our fee
    # returned with it (read from Stripe's Application Fee; see services.refunds_sync).
    # The status becomes "refunded" only once amount_refunded reaches amount.
    amount_refunded = models.PositiveIntegerField(default=0)
    fee_refunded = models.PositiveIntegerField(default=0)
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

    @property
    def grant(self) -> DownloadGrant | None:
        """The purchase's first file's grant (uses `prefetch_related("grants")` if done)."""
        return next(iter(self.grants.all()), None)

    @property
    def downloads_used(self) -> int:
        """Downloads of every file of the purchase (uses prefetched grants)."""
        return sum(grant.download_count for grant in self.grants.all())

    @property
    def stamped(self) -> StampedCopy | None:
        """The stamped copy of the first file (None when the product is not stamped)."""
        grant = self.grant
        return getattr(grant, "stamped", None) if grant is not None else None

    @property
    def refundable(self) -> int:
        """What can still be refunded, in minor units: what the card was charged (tax
        included) less the refunds so far."""
        return max(0, self.total_charged - self.amount_refunded)

    @property
    def refundable_text(self) -> str:
        """What remains, as the refund form's amount field starts: "12.50"."""
        return to_decimal_string(self.refundable, self.currency)

    @property
    def refundable_display(self) -> str:
        return format_amount(self.refundable, self.currency)

    @property
    def amount_refunded_display(self) -> str:
        return format_amount(self.amount_refunded, self.currency)

    @property
    def is_partly_refunded(self) -> bool:
        return 0 < self.amount_refunded < self.total_charged

    @property
    def tax_calculated(self) -> bool:
        return self.tax_rate is not None or self.tax_amount > 0

    @property
    def tax_display(self) -> str:
        return format_amount(self.tax_amount, self.currency)

    @property
    def tax_rate_display(self) -> str:
        """ "19%", "5.5%" (no trailing zeros), or "" when unknown."""
        if self.tax_rate is None:
            return ""
        return f"{self.tax_rate.normalize():f}%"

    @property
    def tax_summary(self) -> str:
        """ "VAT (DE, 19%)": what the receipt and the sales list call the tax line."""
        details = ", ".join(x for x in (self.tax_country, self.tax_rate_display) if x)
        label = self.tax_label or "Tax"
        return f"{label} ({details})" if details else label

    @property
    def total_charged(self) -> int:
        """What the buyer's card was charged: the amount plus the tax on top."""
        return self.amount + self.tax_amount

    @property
    def total_display(self) -> str:
        return format_amount(self.total_charged, self.currency)


class Refund(models.Model):
    """One refund of a purchase: made from the sales list, or by the seller in their own
    Stripe Dashboard (seen through webhooks). Store schema.

    A row made from the sales list exists before Stripe is asked (`requested`): its amount
    is held against what remains, under the purchase's row lock, so two clicks (or two
    tabs) can never refund more than was paid. Stripe's answer, or any later refund
    event, brings the row to Stripe's status.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"  # ours: Stripe not asked yet, or no answer
        PENDING = "pending", "Pending"
        REQUIRES_ACTION = "requires_action", "Requires action"
        SUCCEEDED = "succeeded", "Refunded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    class Reason(models.TextChoices):
        # Stripe's own reasons (STRIPE-FACTS 7.1).
        REQUESTED_BY_CUSTOMER = "requested_by_customer", "Requested by the buyer"
        DUPLICATE = "duplicate", "Duplicate payment"
        FRAUDULENT = "fraudulent", "Fraudulent payment"

    class Source(models.TextChoices):
        DASHBOARD = "dashboard", "Sales list"
        STRIPE = "stripe", "Stripe Dashboard"

    # Statuses whose amount is (or is being) returned to the buyer.
    COUNTED = ("requested", "pending", "requires_action", "succeeded")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="refunds")
    stripe_refund_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    # The sales-list form's id for this click: a double click finds the row it made.
    attempt = models.CharField(max_length=64, unique=True, null=True, blank=True)
    amount = models.PositiveIntegerField()
    fee_refunded = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    # The seller's words to the buyer (kept here; Stripe only takes the reason).
    note = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    failure_reason = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.DASHBOARD)
    buyer_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.stripe_refund_id or self.uid} {self.amount} {self.status}"

    @property
    def amount_display(self) -> str:
        return format_amount(self.amount, self.purchase.currency)

    @property
    def is_counted(self) -> bool:
        return self.status in self.COUNTED


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
    # Created with Stripe Tax on: Stripe may add tax on top of `amount`.
    tax_enabled = models.BooleanField(default=False)
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
    """The right to download one of a purchase's files: one grant per (purchase, file).

    It records the version it serves (buyers keep the version they paid for; the seller
    may give past buyers a new one, payments.services.version_release) and has its own
    link, count and limit. The link token is HMAC(SECRET_KEY, schema, purchase, salt):
    it can be shown again (thank-you page, receipt, library) without being stored; only
    its hash is kept, to find the grant. A new salt invalidates old links. Grants are
    made by payments.services.grant_files, for a product's files or a bundle's.

    `slot` and `version` are empty only on grants made before products had several files
    (migrated) or written by hand: those serve the product's current file.
    """

    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="grants")
    slot = models.ForeignKey(
        FileSlot, on_delete=models.PROTECT, null=True, blank=True, related_name="grants"
    )
    version = models.ForeignKey(
        ProductFile, on_delete=models.PROTECT, null=True, blank=True, related_name="grants"
    )
    salt = models.CharField(max_length=32)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    download_limit = models.PositiveIntegerField(null=True, blank=True)
    download_count = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(download_limit__isnull=True)
                | models.Q(download_count__lte=models.F("download_limit")),
                name="grant_count_within_limit",
            ),
            models.UniqueConstraint(fields=["purchase", "slot"], name="grant_one_per_file"),
        ]


class DownloadLog(models.Model):
    grant = models.ForeignKey(DownloadGrant, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)


class StampedCopy(models.Model):
    """The buyer-stamped PDF of one grant's version, made by a task.

    When the grant moves to a new version the copy goes back to pending and is made
    again from it (`version` says which one it is, or is being, made from)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="stamped_copies")
    grant = models.OneToOneField(
        DownloadGrant, on_delete=models.CASCADE, null=True, blank=True, related_name="stamped"
    )
    version = models.ForeignKey(
        ProductFile, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    file = models.FileField(max_length=300, blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class UpdateNotice(models.Model):
    """ "A new version of your file": one email per (version, buyer), claimed before it is
    sent (a conditional UPDATE on `claimed_at`), so concurrent senders send it once."""

    version = models.ForeignKey(ProductFile, on_delete=models.CASCADE, related_name="notices")
    email = models.EmailField()
    # The purchase whose link the email carries (the buyer's newest of this file).
    grant = models.ForeignKey(DownloadGrant, on_delete=models.CASCADE, related_name="notices")
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    skipped = models.CharField(max_length=32, blank=True)  # "unsubscribed", …
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "email"], name="notice_once_per_buyer")
        ]


class UpdateOptOut(models.Model):
    """A buyer who asked for no more update emails from this store (store schema)."""

    email = models.EmailField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)


class LibraryToken(models.Model):
    """A "my purchases" magic link: emailed, hashed at rest, short-lived."""

    email = models.EmailField(db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
