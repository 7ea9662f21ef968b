"""Signing a seller in on a store host the platform's session cookie does not reach.

Where the browser shares the session cookie (production: cookies on `.PLATFORM_DOMAIN`),
a seller is simply signed in on the store subdomains too. Where it cannot — custom
domains, and `*.localhost` in development, whose parent-domain cookies browsers refuse —
a store page that needs the seller sends the browser to the main domain, which hands back
a signed, single-use, 60-second token that signs the same user in on that host.

A custom domain is a host its seller controls (its DNS, so possibly the server behind
it): whatever reaches it may be in the seller's hands. So:

- a token is issued only for a host of a store **the signed-in user owns**; for any other
  address there is no token, only a page saying so (one page for every refusal, so it
  tells nothing about the address);
- the session the token opens is bound to that host and that store (tenants.sessions):
  replayed on the main domain or any other host it is an anonymous visitor, and it
  carries no platform power, a superuser's included;
- the token names the user's session epoch: signing out anywhere (sellers.services)
  makes tokens still in flight worthless, as it ends every session.

A platform admin's read-only look at another store is a path of its own:
`admin_view_url` (called by the console, which audits it) gives a token only for the
store's platform subdomain, never for a custom domain, and its session may only look.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from tenants.models import Store
from tenants.routing import store_for_host
from tenants.sessions import host_of, session_bind, shares_platform_cookie

SALT = "sellers.handoff"
MAX_AGE = 60
NOT_YOURS = (
    "This address is not one of your stores, so you were not signed in there. "
    "Open your store from “My stores”."
)


def _refused(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "tenants/forbidden.html", {"message": message}, status=403)


def _token(*, user: Any, store: Store, host: str, admin_view: bool = False) -> str:
    return signing.dumps(
        {
            "u": user.pk,
            "h": host,
            "s": store.schema_name,
            "e": user.session_epoch,
            "a": admin_view,
            "n": secrets.token_urlsafe(12),
        },
        salt=SALT,
    )


def _finish_url(*, scheme: str, netloc: str, token: str, path: str) -> str:
    return f"{scheme}://{netloc}/auth/handoff/?" + urlencode({"token": token, "next": path})


def admin_view_url(*, user: Any, store: Store, path: str = "/dashboard/") -> str:
    """Where a platform admin opens `store`'s dashboard read-only: the store's platform
    subdomain, through a read-only hand-off when the admin's cookie does not reach it."""
    if shares_platform_cookie(store.host):
        return f"{store.url}{path}"
    scheme, netloc = urlsplit(store.url)[:2]
    token = _token(user=user, store=store, host=store.host, admin_view=True)
    return _finish_url(scheme=scheme, netloc=netloc, token=token, path=path)


@never_cache
@login_required
def handoff_start(request: HttpRequest) -> HttpResponse:
    """Main domain: the signed-in user asks to be signed in on one of their stores' hosts."""
    try:
        parts = urlsplit(request.GET.get("next", ""))
    except ValueError:  # a host with U+FF0F, which NFKC turns into "/"
        return _refused(request, NOT_YOURS)
    host = (parts.hostname or "").lower()
    store = store_for_host(host) if parts.scheme in ("http", "https") and host else None
    if store is None or store.owner_id != request.user.pk:
        return _refused(request, NOT_YOURS)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if shares_platform_cookie(host):
        # The browser already brings this session there: nothing to hand over.
        return HttpResponseRedirect(f"{parts.scheme}://{parts.netloc}{path}")
    token = _token(user=request.user, store=store, host=host)
    return HttpResponseRedirect(
        _finish_url(scheme=parts.scheme, netloc=parts.netloc.lower(), token=token, path=path)
    )


@never_cache
def handoff_finish(request: HttpRequest) -> HttpResponse:
    """Store host: check the token (signature, age, host, store, owner, single use) and
    sign in with a session bound to this host and store."""
    try:
        data = signing.loads(request.GET.get("token", ""), salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return _refused(request, "This sign-in link has expired. Please try again.")
    store = request.tenant
    host = host_of(request)
    if data.get("h") != host or data.get("s") != store.schema_name:
        return _refused(request, "This sign-in link is not valid here.")
    user = get_user_model().objects.filter(pk=data.get("u"), is_active=True).first()
    if user is None or user.session_epoch != data.get("e"):
        return _refused(request, "This sign-in link has expired. Please try again.")
    admin_view = data.get("a") is True
    # A read-only admin look opens only on the store's platform subdomain; any other
    # token only for the owner.
    allowed = (
        (user.is_superuser and host == store.host) if admin_view else store.owner_id == user.pk
    )
    if not allowed:
        return _refused(request, "This sign-in link is not valid here.")
    if not cache.add(f"handoff:{data.get('n')}", 1, MAX_AGE * 2):
        return _refused(request, "This sign-in link was already used. Please try again.")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    session_bind(request, schema_name=store.schema_name, admin_view=admin_view)
    next_path = request.GET.get("next", "/dashboard/")
    if not next_path.startswith("/") or next_path.startswith(("//", "/\\")):
        next_path = "/dashboard/"
    return HttpResponseRedirect(next_path)
