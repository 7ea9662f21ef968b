from __future__ import annotations

import uuid

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def checkout_attempt(context) -> str:
    """A fresh id per rendered Buy button: a retried click of the same button reuses it,
    so Stripe answers with the same Checkout Session (idempotency key). A page rendered for
    the page cache gets a hole instead, filled with a fresh id per visitor
    (catalog.page_cache)."""
    return context.get("checkout_attempt_hole") or uuid.uuid4().hex
