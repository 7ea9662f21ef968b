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


@register.simple_tag(takes_context=True)
def absolute_url(context: template.Context, path: str) -> str:
    """`{% absolute_url product.cover_url as image %}`: the path on the host this page was
    asked for (the store's subdomain or its custom domain; routing accepted that host)."""
    request = context.get("request")
    if not path or request is None:
        return ""
    return request.build_absolute_uri(path)
