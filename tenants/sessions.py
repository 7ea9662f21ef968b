"""Which host accepts which session (DESIGN.md, "Requests").

Two kinds of session exist:

- the platform's own, created by signing in on the main domain. Its cookie lives on the
  main domain (and, in production, on `.PLATFORM_DOMAIN`, so store subdomains share it).
  It is accepted on the platform's hosts only — never on a custom domain, whose DNS (and
  so whose server) its seller controls.
- a store session, created by the sign-in hand-off (sellers.handoff) on one store host.
  It is bound to that host and that store, and accepted nowhere else: not on the main
  domain, not on another subdomain, not on another custom domain. It carries no platform
  power: a superuser signed in through a hand-off is only the owner of their own store,
  except in the console's audited read-only view of one store (ADMIN_VIEW_KEY).

`SessionHostMiddleware` (tenants.middleware) swaps a session this host must not accept
for an empty one before authentication reads it: the request is anonymous, and the
session it replayed is left as it was on its own host.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.http.request import split_domain_port

BOUND_HOST_KEY = "_store_host"
BOUND_STORE_KEY = "_store_schema"
# The schema of the one store a superuser opened read-only from the console.
ADMIN_VIEW_KEY = "_store_admin_view"
ADMIN_VIEW_SECONDS = 3600


def host_of(request: HttpRequest) -> str:
    """The request's host name: lower case, without the port."""
    return split_domain_port(request.get_host())[0]


def is_platform_host(host: str) -> bool:
    """The main domain and the store subdomains: hosts only the platform serves."""
    platform = settings.PLATFORM_DOMAIN
    return host in (platform, "127.0.0.1") or host.endswith(f".{platform}")


def shares_platform_cookie(host: str) -> bool:
    """Whether the browser sends the main domain's session cookie to `host` too."""
    domain = (settings.SESSION_COOKIE_DOMAIN or "").lower()
    if not domain:
        return host == settings.PLATFORM_DOMAIN
    return host == domain.lstrip(".") or host.endswith("." + domain.lstrip("."))


def session_bind(request: HttpRequest, *, schema_name: str, admin_view: bool = False) -> None:
    """Bind the (freshly logged-in) session to this host and store."""
    request.session[BOUND_HOST_KEY] = host_of(request)
    request.session[BOUND_STORE_KEY] = schema_name
    if admin_view:
        request.session[ADMIN_VIEW_KEY] = schema_name
        # A look, not a stay: the read-only session ends after an hour.
        request.session.set_expiry(ADMIN_VIEW_SECONDS)


def session_is_bound(request: HttpRequest) -> bool:
    return BOUND_HOST_KEY in request.session


def session_accepted(request: HttpRequest) -> bool:
    """May this host use the session the request carries?"""
    session = request.session
    host = host_of(request)
    bound_host = session.get(BOUND_HOST_KEY)
    if bound_host is None:
        return is_platform_host(host)
    tenant = getattr(request, "tenant", None)
    return bool(
        bound_host == host
        and tenant is not None
        and not tenant.is_public
        and session.get(BOUND_STORE_KEY) == tenant.schema_name
    )


def admin_view_allowed(request: HttpRequest) -> bool:
    """A platform admin may look at this store read-only: a superuser in the platform's
    own session, or in the read-only session the console opened for this very store."""
    user = request.user
    tenant = getattr(request, "tenant", None)
    if not (user.is_authenticated and user.is_active and user.is_superuser):
        return False
    if tenant is None or tenant.is_public:
        return False
    if not session_is_bound(request):
        return is_platform_host(host_of(request))
    return request.session.get(ADMIN_VIEW_KEY) == tenant.schema_name
