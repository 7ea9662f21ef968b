"""{% load console_tags %}: {% money %} (catalog.money.money_display), audit values."""

from __future__ import annotations

from typing import Any

from django import template

from catalog.money import money_display
from payments.platform.models import AccountState

register = template.Library()

# The catalog's {% money %}, so console templates need one {% load %}: one behaviour.
register.simple_tag(money_display, name="money")


@register.filter
def audit_value(value: Any) -> str:
    """How a before/after value reads in the audit log."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        shown = ", ".join(str(v) for v in value[:5])
        return f"{shown} … (+{len(value) - 5})" if len(value) > 5 else shown
    return str(value)


@register.filter
def stripe_label(state: str) -> str:
    return AccountState(state).label if state in AccountState.values else state


@register.filter
def error_summary(text: str) -> str:
    """The line of a traceback that says what went wrong: its last non-empty line."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
