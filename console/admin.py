from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log is append-only: written by console.services, never edited here."""

    list_display = ("at", "actor", "action", "store", "target")
    list_filter = ("action", "at")
    search_fields = ("actor__email", "store__subdomain", "target")
    list_select_related = ("actor", "store")
    date_hierarchy = "at"
    readonly_fields = ("at", "actor", "action", "store", "target", "before", "after")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
