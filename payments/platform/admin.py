"""The public payments tables in /admin/: read-only. Stripe's state arrives by webhook,
the inbox is replayed from the console, and ledger rows are history: never edited,
never deleted."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from tenants.admin import ReadOnlyAdmin

from .models import ConnectedAccount, FeeLedgerEntry, StripeEvent


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(ReadOnlyAdmin):
    list_display = (
        "stripe_account_id",
        "store",
        "charges_enabled",
        "payouts_enabled",
        "details_submitted",
        "deauthorized_at",
        "updated_at",
    )
    list_filter = (
        "charges_enabled",
        "payouts_enabled",
        "details_submitted",
        ("deauthorized_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("stripe_account_id", "store__subdomain", "store__name", "store__owner__email")
    list_select_related = ("store",)
    ordering = ("-updated_at",)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = (
        "event_id",
        "type",
        "account_id",
        "status",
        "attempts",
        "received_at",
        "processed_at",
    )
    list_filter = ("status", "livemode", "type")
    search_fields = ("=event_id", "=account_id", "type")
    date_hierarchy = "received_at"
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest):
        # Payloads can be large: lists leave them in the database (the detail page loads it).
        return super().get_queryset(request).defer("payload")


@admin.register(FeeLedgerEntry)
class FeeLedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "store",
        "product_title",
        "amount",
        "platform_fee",
        "currency",
        "fee_percent",
        "fee_fixed",
        "status",
    )
    list_filter = ("status", "currency", "created_at")
    search_fields = (
        "=checkout_session_id",
        "=payment_intent_id",
        "=purchase_uid",
        "store__subdomain",
        "product_title",
    )
    list_select_related = ("store",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    ordering = ("-created_at",)
