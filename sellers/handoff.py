"""One login across the main domain, store subdomains and custom domains.

Where the browser shares the session cookie (production: cookies on `.PLATFORM_DOMAIN`),
a seller is simply logged in everywhere. Where it cannot — custom domains, and
`*.localhost` in development, whose parent-domain cookies browsers refuse — a store page
that needs the seller sends the browser to the main domain, which (once logged in there)
hands back a signed, single-use, 60-second token that logs the same user in on that host.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit

from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from tenants.routing import store_for_host

SALT = "sellers.handoff"
MAX_AGE = 60


def _store_host(url: str) -> tuple[str, str] | None:
    """(host with port, path) when `url` points at a store this platform serves."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if store_for_host(parts.hostname.lower()) is None:
        return None
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return parts.netloc.lower(), path


@never_cache
@login_required
def handoff_start(request: HttpRequest) -> HttpResponse:
    """Main domain: the logged-in user asks to be logged in on a store's host too."""
    target = _store_host(request.GET.get("next", ""))
    if target is None:
        return HttpResponseBadRequest("Not a store address.")
    netloc, path = target
    token = signing.dumps(
        {"u": request.user.pk, "h": netloc.split(":")[0], "n": secrets.token_urlsafe(12)}, salt=SALT
    )
    scheme = urlsplit(request.GET["next"]).scheme
    return HttpResponseRedirect(
        f"{scheme}://{netloc}/auth/handoff/?" + urlencode({"token": token, "next": path})
    )


@never_cache
def handoff_finish(request: HttpRequest) -> HttpResponse:
    """Store host: check the token (signature, age, host, single use) and log in."""
    try:
        data = signing.loads(request.GET.get("token", ""), salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return render(
            request,
            "tenants/forbidden.html",
            {"message": "This sign-in link has expired. Please try again."},
            status=403,
        )
    host = request.get_host().split(":")[0].lower()
    if data.get("h") != host or not cache.add(f"handoff:{data.get('n')}", 1, MAX_AGE * 2):
        return render(
            request,
            "tenants/forbidden.html",
            {"message": "This sign-in link is not valid here."},
            status=403,
        )
    user = get_user_model().objects.filter(pk=data.get("u"), is_active=True).first()
    if user is None:
        return render(
            request,
            "tenants/forbidden.html",
            {"message": "This account is not active."},
            status=403,
        )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    next_path = request.GET.get("next", "/dashboard/")
    if not next_path.startswith("/") or next_path.startswith("//"):
        next_path = "/dashboard/"
    return HttpResponseRedirect(next_path)
