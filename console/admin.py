from __future__ import annotations

from django.contrib import admin

from tenants.admin import ReadOnlyAdmin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit log is append-only: written by console.services, never edited here."""

    list_display = ("at", "actor", "action", "store", "target")
    list_filter = ("action", "at")
    search_fields = ("actor__email", "store__subdomain", "target")
    list_select_related = ("actor", "store")
    date_hierarchy = "at"
    readonly_fields = ("at", "actor", "action", "store", "target", "before", "after")
