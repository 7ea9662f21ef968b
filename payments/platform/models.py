from __future__ import annotations

from django.db import models

from payments.models import PurchaseStatus


class AccountState(models.TextChoices):
    """A store's Stripe connection, as the dashboard and the console show it."""

    NOT_CONNECTED = "not_connected", "Not connected"
    ACTION_NEEDED = "action_needed", "Action needed"
    READY = "ready", "Ready"
    DEAUTHORIZED = "deauthorized", "Disconnected"


class ConnectedAccount(models.Model):
    """A store's Stripe account. Public schema: webhooks arrive on the main domain."""

    store = models.OneToOneField(
        "tenants.Store", on_delete=models.CASCADE, related_name="stripe_account"
    )
    stripe_account_id = models.CharField(max_length=64, unique=True)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    requirements_due = models.JSONField(default=list, blank=True)
    disabled_reason = models.CharField(max_length=120, blank=True)
    # Fixed at creation (Stripe can't change an account's country); the settlement
    # currency decides Stripe's minimum charge for the store's prices.
    country = models.CharField(max_length=2, blank=True)
    default_currency = models.CharField(max_length=3, blank=True)
    requirements_deadline = models.DateTimeField(null=True, blank=True)
    deauthorized_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.stripe_account_id

    @property
    def state(self) -> AccountState:
        """action_needed / ready / deauthorized (no row at all: not_connected)."""
        if self.deauthorized_at:
            return AccountState.DEAUTHORIZED
        if self.charges_enabled:
            return AccountState.READY
        return AccountState.ACTION_NEEDED


class StripeEvent(models.Model):
    """The webhook inbox: every event once, by id, with its processing state."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Processed"
        FAILED = "failed", "Failed"
        IGNORED = "ignored", "Ignored"

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    account_id = models.CharField(max_length=64, blank=True, db_index=True)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class FeeLedgerEntry(models.Model):
    """One row per purchase, across stores, so reports never visit every schema."""

    store = models.ForeignKey("tenants.Store", on_delete=models.PROTECT, related_name="ledger")
    checkout_session_id = models.CharField(max_length=100, unique=True)
    payment_intent_id = models.CharField(max_length=100, blank=True)
    purchase_uid = models.UUIDField(unique=True)
    product_title = models.CharField(max_length=140)
    amount = models.PositiveIntegerField()
    platform_fee = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    fee_percent = models.DecimalField(max_digits=5, decimal_places=2)
    fee_fixed = models.PositiveIntegerField()
    # The discount code (as typed by the seller, upper case) and what it took off.
    discount_code = models.CharField(max_length=40, blank=True)
    discount = models.PositiveIntegerField(default=0)
    # Refunds so far: what went back to the buyer, and the part of the platform fee
    # Stripe returned with it (its Application Fee's amount_refunded).
    amount_refunded = models.PositiveIntegerField(default=0)
    fee_refunded = models.PositiveIntegerField(default=0)
    # The purchase's status, mirrored (PurchaseStatus).
    status = models.CharField(max_length=16, default=PurchaseStatus.PAID, db_index=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["store", "-created_at"])]
        verbose_name_plural = "fee ledger entries"

    def __str__(self) -> str:
        return f"{self.checkout_session_id} fee {self.platform_fee} {self.currency}"


class PaymentIncident(models.Model):
    """A payment the platform did not deliver, for the console to show.

    One row per Checkout Session: a session the platform never created (a seller's own
    key), one whose amount, currency or fee differ from what the platform recorded, or a
    payment that completed for a suspended store and was refunded.
    """

    class Kind(models.TextChoices):
        UNRECORDED = "unrecorded", "Not created by the platform"
        MISMATCH = "mismatch", "Differs from the platform's record"
        SUSPENDED_REFUND = "suspended_refund", "Refunded: store suspended"

    store = models.ForeignKey(
        "tenants.Store", on_delete=models.CASCADE, null=True, related_name="payment_incidents"
    )
    account_id = models.CharField(max_length=64, blank=True)
    checkout_session_id = models.CharField(max_length=100, unique=True)
    payment_intent_id = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=24, choices=Kind.choices, db_index=True)
    amount = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    fee = models.PositiveIntegerField(null=True, blank=True)
    # Only for suspended-store refunds: the buyer is told why their money came back.
    buyer_email = models.EmailField(blank=True)
    detail = models.CharField(max_length=500, blank=True)
    refund_id = models.CharField(max_length=100, blank=True)
    buyer_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.checkout_session_id} {self.kind}"


class DeferredDownload(models.Model):
    """A download served while its store was in a move's read-only window (tenants.moves):
    counted and logged in the store's new cell once the move ends
    (payments.services.downloads_deferred_apply). In the control database."""

    schema_name = models.CharField(max_length=63, db_index=True)
    grant_id = models.BigIntegerField()
    at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["pk"]
