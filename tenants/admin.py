"""Stores and domains in /admin/. Suspension and fee changes go through the console,
which records them in the audit log, so those fields are read-only here; stores are
created by sign-up (row, schema and domain together) and never deleted from here
(deleting a store drops its schema)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from .models import Domain, Store


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that are history or mirror another system: listed and shown, never added,
    changed or deleted here (the payments tables, the console's audit log)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    fields = ("domain", "is_primary", "is_custom", "verified_at", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "subdomain",
        "owner",
        "status",
        "can_take_charges",
        "fee_override",
        "created_at",
        "console_link",
    )
    list_filter = ("status", "can_take_charges", "created_at")
    search_fields = ("name", "subdomain", "owner__email", "domains__domain")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    inlines = (DomainInline,)
    fieldsets = (
        (None, {"fields": ("name", "subdomain", "owner", "schema_name", "created_at")}),
        (
            "Storefront",
            {"fields": ("description", "support_email", "accent_color", "notify_on_sale")},
        ),
        (
            "Platform (change these in the console)",
            {
                "fields": (
                    "console_link",
                    "status",
                    "suspended_reason",
                    "can_take_charges",
                    "charges_blocked_reason",
                    "fee_percent",
                    "fee_fixed",
                )
            },
        ),
    )
    readonly_fields = (
        "subdomain",
        "owner",
        "schema_name",
        "created_at",
        "console_link",
        "status",
        "suspended_reason",
        "can_take_charges",
        "charges_blocked_reason",
        "fee_percent",
        "fee_fixed",
    )

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).stores()

    @admin.display(description="Fee override")
    def fee_override(self, obj: Store) -> str:
        if obj.fee_percent is None and obj.fee_fixed is None:
            return "—"
        percent = "default %" if obj.fee_percent is None else f"{obj.fee_percent}%"
        fixed = "default fixed" if obj.fee_fixed is None else f"{obj.fee_fixed} minor units"
        return f"{percent} + {fixed}"

    @admin.display(description="Console")
    def console_link(self, obj: Store) -> str:
        if not obj.pk:
            return "—"
        return format_html(
            '<a href="{}">Open in console</a>', reverse("console:store", args=[obj.pk])
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("domain", "tenant", "is_primary", "is_custom", "verified_at", "created_at")
    list_filter = ("is_primary", "is_custom", ("verified_at", admin.EmptyFieldListFilter))
    search_fields = ("domain", "tenant__subdomain", "tenant__name")
    list_select_related = ("tenant",)
    readonly_fields = ("domain", "tenant", "is_primary", "is_custom", "created_at")
    ordering = ("domain",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Subdomains come with the store; custom domains are added by their sellers.
        return False
