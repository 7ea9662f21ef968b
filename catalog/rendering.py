"""Text a seller types, made safe to show: Markdown descriptions, titles, file names."""

from __future__ import annotations

import re
import unicodedata
from html import unescape

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

# What a product description may contain once rendered. No images (tracking pixels), no
# raw HTML beyond these tags, no attributes but a link's href/title; links get rel=nofollow.
ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote",
    "ul", "ol", "li", "h2", "h3", "h4", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


def markdown_html(text: str) -> SafeString:
    """Markdown → HTML → allow-list. Script, style and event handlers never survive."""
    if not text:
        return mark_safe("")
    html = markdown.markdown(
        _CONTROL.sub("", text), extensions=["fenced_code", "tables", "sane_lists"]
    )
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="nofollow noopener noreferrer ugc",
        strip_comments=True,
    )
    return mark_safe(cleaned)


def markdown_text(text: str) -> str:
    """A Markdown description as one line of plain text (`**32 songbirds**` → `32 songbirds`),
    for places that show text as is, like Stripe Checkout's line item."""
    if not text:
        return ""
    html = markdown.markdown(
        _CONTROL.sub("", text), extensions=["fenced_code", "tables", "sane_lists"]
    )
    plain = nh3.clean(html, tags=set(), strip_comments=True)  # keeps the text, drops tags
    return clean_line(unescape(plain))


def clean_line(text: str) -> str:
    """One line of plain text: NFC, no control characters, single spaces."""
    text = unicodedata.normalize("NFC", text or "")
    return _SPACES.sub(" ", _CONTROL.sub("", text)).strip()


def clean_text(text: str) -> str:
    """Multi-line plain text (a description before Markdown): no control characters."""
    text = unicodedata.normalize("NFC", text or "").replace("\r\n", "\n")
    return _CONTROL.sub("", text).strip()


_UNSAFE_IN_NAME = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')


def download_name(uploaded: str, *, fallback: str) -> str:
    """The name buyers download: the seller's file name without any path, made harmless.

    Only ever a display name (Content-Disposition); storage keys are generated, never
    derived from it. Unicode letters are kept; separators, control characters and
    characters Windows refuses become "_"; the extension is always ".pdf".
    """
    name = unicodedata.normalize("NFC", uploaded or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE_IN_NAME.sub("_", name)
    stem = name[:-4] if name.lower().endswith(".pdf") else name
    stem = _SPACES.sub(" ", stem).strip(" ._")[:150].rstrip(" .")
    if not stem:
        stem = fallback[:150] or "download"
    return f"{stem}.pdf"
