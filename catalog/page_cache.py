"""The storefront and product pages, served from a per-store cache to anonymous visitors.

What is cached is the rendered page with holes where it differs per visitor: the CSRF
token of the Buy form and the checkout attempt id (one per rendered button, the idempotency
key of a Checkout Session). Each hole is a random marker chosen when the page is rendered,
so no text a seller writes can fill it. Serving a cached page fills the holes for this
visitor (a fresh token and fresh attempt ids) in a new response, which then goes through
the middleware like any other: cookies (the CSRF cookie) are set on that response, never
stored.

A request renders live when anything about it could change the page: a session or
messages cookie (a logged-in owner sees a Dashboard link; messages show once), a query
string (`?code=`, `?cancelled=1`; tracking parameters such as utm_source alone do not
change the page), or a method other than GET. A response is stored only
when it is a plain 200 with no cookies of its own, no session change and no message
queued. The next anonymous visitor of a stored page is answered before Django by
config.edge (the WSGI entry point), from Redis in one round trip. The cache forgets a store's pages when the store, a domain, a product (price,
status, cover…) changes: tenants.pagecache.store_pages_forget, called from the signals of
both apps.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from functools import wraps
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.utils.cache import patch_vary_headers

from tenants.pagecache import page_get, page_set

_TEMPLATE_DIRS = [
    settings.BASE_DIR / "templates",
    Path(__file__).resolve().parent / "templates",
    settings.BASE_DIR / "payments" / "templates",
]
# Pages rendered by other templates (a deploy) are other pages.
BUILD = hashlib.md5(
    b"".join(p.read_bytes() for d in _TEMPLATE_DIRS for p in sorted(d.rglob("*.html"))),
    usedforsecurity=False,
).hexdigest()[:12]

_LIVE_COOKIES = (settings.SESSION_COOKIE_NAME, "messages")
# Links shared with only tracking parameters show the same page as without them: they are
# served from the cache too (catalog.pageviews counts utm_source). Any other parameter
# (`?code=`, `?cancelled=1`), or one spelled otherwise (percent-encoded), renders live.
TRACKING_PARAMS = frozenset(
    {"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "fbclid", "gclid"}
)


def tracking_only(query_string: str) -> bool:
    """A query string of tracking parameters only (or none)."""
    return all(part.split("=", 1)[0] in TRACKING_PARAMS for part in query_string.split("&") if part)


def _holes_context(request: HttpRequest) -> dict[str, str]:
    holes = getattr(request, "_page_holes", None)
    if holes is None:
        return {}
    return {"csrf_token": holes["csrf"], "checkout_attempt_hole": holes["attempt"]}


def page_context(request: HttpRequest, context: dict) -> dict:
    """The view's context, with the holes when the page is being rendered for the cache."""
    return {**context, **_holes_context(request)}


def _cacheable_request(request: HttpRequest) -> bool:
    store = getattr(request, "tenant", None)
    return (
        request.method == "GET"
        and tracking_only(request.META.get("QUERY_STRING", ""))
        and not any(name in request.COOKIES for name in _LIVE_COOKIES)
        and store is not None
        and not store.is_public
    )


def _cacheable_response(request: HttpRequest, response: HttpResponse) -> bool:
    session = getattr(request, "session", None)
    messages = getattr(request, "_messages", None)
    return (
        response.status_code == 200
        and not response.streaming
        and not response.cookies
        and not response.has_header("Cache-Control")
        and not (session is not None and session.modified)
        and not (messages is not None and getattr(messages, "_queued_messages", None))
    )


def _fill(request: HttpRequest, body: str, holes: dict[str, str]) -> str:
    if holes["csrf"] in body:
        body = body.replace(holes["csrf"], get_token(request))
    if holes["attempt"] in body:
        parts = body.split(holes["attempt"])
        body = parts[0] + "".join(uuid.uuid4().hex + part for part in parts[1:])
    return body


def _serve(request: HttpRequest, page: dict, schema: str, version: str) -> HttpResponse:
    response = HttpResponse(_fill(request, page["body"], page), content_type=page["content_type"])
    patch_vary_headers(response, ("Cookie",))  # as the live page: it differs for a session
    # What config.edge needs to answer the next visitor before Django: the page with its
    # holes, and the store version it is good for (the edge adds the final headers).
    match = request.resolver_match
    response.page_edge = {  # type: ignore[attr-defined]
        "page": page,
        "schema": schema,
        "version": version,
        "view": match.view_name if match is not None else "unmatched",
    }
    return response


def cached_page(view):
    """Serve the view from the store's page cache for anonymous GETs (see the module)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not _cacheable_request(request):
            return view(request, *args, **kwargs)
        schema = request.tenant.schema_name
        key = f"{BUILD}:{request.get_host()}:{request.path}"
        version, page = page_get(schema, key)
        if page is not None:
            return _serve(request, page, schema, version)
        marker = secrets.token_hex(16)
        holes = {"csrf": f"csrfhole{marker}", "attempt": f"attempthole{marker}"}
        request._page_holes = holes
        try:
            response = view(request, *args, **kwargs)
        finally:
            del request._page_holes
        if not _cacheable_response(request, response):
            if not response.streaming:  # not a page to keep: fill its holes for this visitor
                body = _fill(request, response.content.decode(response.charset), holes)
                response.content = body.encode(response.charset)
            return response
        page = {
            "body": response.content.decode(response.charset),
            "content_type": response["Content-Type"],
            **holes,
        }
        page_set(schema, key, version, page)
        return _serve(request, page, schema, version)

    return wrapper
