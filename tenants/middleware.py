from __future__ import annotations

import logging
from importlib import import_module

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection, connections
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host
from django.urls import set_urlconf
from django_tenants.middleware.main import TenantMainMiddleware

from . import cells
from .models import Store
from .routing import store_for_host
from .sessions import host_of, is_platform_host, session_accepted
from .views import store_moving, store_not_found, store_unavailable

logger = logging.getLogger(__name__)


def public_tenant() -> Store:
    """The main domain's tenant: an unsaved row standing for the public schema."""
    return Store(
        schema_name=settings.PUBLIC_SCHEMA_NAME,
        name=settings.PLATFORM_NAME,
        subdomain="",
    )


def raw_host(meta: dict) -> str:
    """The Host the client sent, as Django's own get_host() reads it, from request.META
    (or the WSGI environ itself: config.edge)."""
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in meta:
        return meta["HTTP_X_FORWARDED_HOST"]
    if "HTTP_HOST" in meta:
        return meta["HTTP_HOST"]
    return str(meta.get("SERVER_NAME", ""))


class VerifiedDomainHostMiddleware:
    """Let a store's verified custom domain through Django's host check.

    DJANGO_ALLOWED_HOSTS names the platform's own hosts (the main domain and
    `.PLATFORM_DOMAIN`), never `*`. A custom domain is allowed when the domain table
    holds it verified — looked up through the routing cache, as the store middleware will
    do next. Any other host fails Django's check (DisallowedHost) and gets the store
    middleware's "no such store" page. First in MIDDLEWARE: the security middleware
    already asks for the host.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = raw_host(request.META)
        domain, _port = split_domain_port(raw)
        if (
            domain
            and not is_platform_host(domain)
            and not validate_host(domain, settings.ALLOWED_HOSTS)
            and store_for_host(domain) is not None
        ):
            # Only verified custom domains route (tenants.routing): this host is one.
            request.get_host = lambda: raw
        return self.get_response(request)


class StoreMiddleware(TenantMainMiddleware):
    """Route the request to the main site or to a store's schema by its Host.

    Unlike the stock middleware, the host lookup is cached (tenants.routing) and the main
    domain needs no tenant row. With TENANT_LIMIT_SET_CALLS the schema costs one
    `SET search_path` per connection use.
    """

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        try:
            host = self.hostname_from_request(request).lower()
        except DisallowedHost:
            return store_not_found(request)
        platform = settings.PLATFORM_DOMAIN
        if host in (platform, f"www.{platform}", "127.0.0.1"):
            request.tenant = public_tenant()
            if connection.schema_name != settings.PUBLIC_SCHEMA_NAME:
                connection.set_schema_to_public()
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF
            set_urlconf(request.urlconf)
            return None
        store = store_for_host(host)
        if store is None:
            return store_not_found(request)
        store.domain_url = host
        request.tenant = store
        target = cells.alias(cells.cell_of(store))
        if (
            connection.schema_name == store.schema_name
            and connection.search_path_set_schemas
            and getattr(connection, "cell_alias", "default") == target
            # A store in another cell: its cell's connection still in its schema too.
            and (target == connection.alias or connections[target].schema_name == store.schema_name)
        ):
            # Same store as this connection's last request: its search_path is still set
            # (TENANT_LIMIT_SET_CALLS), so no `SET search_path` round trip at all.
            connection.tenant = store
        else:
            connection.set_tenant(store)
        request.urlconf = settings.ROOT_URLCONF
        set_urlconf(request.urlconf)
        return None

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        # Cookies go on the parent domain so one login spans the platform's hosts; a
        # custom domain must get host-only cookies instead, or browsers drop them.
        if response.cookies and host_only_cookies(request.META.get("HTTP_HOST", "")):
            for morsel in response.cookies.values():
                morsel["domain"] = ""
        return response


def host_only_cookies(http_host: str) -> bool:
    """A custom domain (not the platform's): cookies must not name the platform's domain."""
    host = http_host.split(":")[0].lower()
    platform = settings.PLATFORM_DOMAIN
    return bool(host) and host != platform and not host.endswith(f".{platform}")


# Paths a suspended store still answers: its owner must be able to see why.
_SUSPENDED_ALLOWED = ("/dashboard", "/auth/handoff/", "/static/", "/healthz")


class StoreStatusMiddleware:
    """A suspended store shows a clear "unavailable" page instead of its shop."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        store = getattr(request, "tenant", None)
        if (
            store is not None
            and not store.is_public
            and not store.is_active
            and (
                store.status == Store.Status.PROVISIONING
                or not request.path.startswith(_SUSPENDED_ALLOWED)
            )
        ):
            # A store still being created (tenants.services.store_provision) has no schema
            # to show anything from yet, its dashboard included.
            return store_unavailable(request)
        if (
            store is not None
            and getattr(store, "moving_to", "")
            and request.method not in ("GET", "HEAD", "OPTIONS")
        ):
            # A move's read-only window (tenants.moves): a few seconds; reads and
            # downloads go on, a write is asked to come back.
            return store_moving(request)
        return self.get_response(request)


class SessionHostMiddleware:
    """Set aside a session this host must not accept (tenants.sessions): a store session
    replayed on another host, or the platform's session on a custom domain.

    Runs after SessionMiddleware and before authentication reads the session. The request
    then goes on as an anonymous visitor's with an empty session; the session it carried
    is left untouched for the host it belongs to.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.SESSION_COOKIE_NAME in request.COOKIES and not session_accepted(request):
            logger.warning(
                "Session refused on %s: it belongs to another host.", host_of(request)[:255]
            )
            request.session = self.session_store()
        return self.get_response(request)
