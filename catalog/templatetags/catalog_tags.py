"""{% load catalog_tags %}: `markdown` renders seller Markdown through the allow-list;
`{% money amount currency %}` formats minor units (the console registers the same tag)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from catalog.money import money_display
from catalog.rendering import markdown_html

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    return markdown_html(text or "")


# {% money stats.revenue product.currency %} → "$12.50"; "" when unknown; never an error.
register.simple_tag(money_display, name="money")
