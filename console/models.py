from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """Who did what to which store, when, with the state before and after.

    Written by console.services in the same transaction as the change it records, so
    there is never a change without its entry, nor an entry for a change rolled back.
    """

    class Action(models.TextChoices):
        STORE_SUSPEND = "store.suspend", "Suspended a store"
        STORE_RESTORE = "store.restore", "Restored a store"
        STORE_FEE = "store.fee", "Changed a store's fee"
        STORE_IMPERSONATE = "store.impersonate", "Opened a store's dashboard"
        STORE_VIEW = "store.view", "Viewed a page of a store's dashboard"
        EVENT_RETRY = "event.retry", "Retried a webhook event"
        EVENTS_RETRY_FAILED = "events.retry_failed", "Retried all failed webhook events"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="audit_entries"
    )
    action = models.CharField(max_length=64, choices=Action.choices, db_index=True)
    store = models.ForeignKey(
        "tenants.Store", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    target = models.CharField(max_length=200, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name_plural = "audit entries"
        # The store page lists that store's latest entries.
        indexes = [models.Index(fields=["store", "-at"], name="console_audit_store_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_id} {self.action} {self.target}"

    def changes(self) -> list[tuple[str, Any, Any, str]]:
        """(key, before, after, kind) for the audit log's "Change" column.

        kind is "changed" (before → after), "set" (no before: the action only created
        something) or "context" (only in before: what the row looked like, e.g. the error
        of a retried event). Keys whose value did not change are left out.
        """
        before = self.before if isinstance(self.before, dict) else {}
        after = self.after if isinstance(self.after, dict) else {}
        rows: list[tuple[str, Any, Any, str]] = []
        for key, value in after.items():
            if key not in before:
                rows.append((key, None, value, "set" if not before else "changed"))
            elif before[key] != value:
                rows.append((key, before[key], value, "changed"))
        rows += [(key, value, None, "context") for key, value in before.items() if key not in after]
        return rows
