"""{% load catalog_tags %}: `markdown` renders seller Markdown through the allow-list."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from catalog.money import format_amount
from catalog.rendering import markdown_html

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    return markdown_html(text or "")


@register.simple_tag
def money(amount: int | None, currency: str) -> str:
    """{% money stats.revenue product.currency %} → "$12.50" (empty when unknown)."""
    if amount is None:
        return ""
    return format_amount(int(amount), currency)
