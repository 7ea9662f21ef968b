from __future__ import annotations

import uuid

from django import template

register = template.Library()


@register.simple_tag
def checkout_attempt() -> str:
    """A fresh id per rendered Buy button: a retried click of the same button reuses it,
    so Stripe answers with the same Checkout Session (idempotency key)."""
    return uuid.uuid4().hex
