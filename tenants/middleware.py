from __future__ import annotations

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import set_urlconf
from django_tenants.middleware.main import TenantMainMiddleware

from .models import Store
from .routing import store_for_host
from .views import store_not_found, store_unavailable


def public_tenant() -> Store:
    """The main domain's tenant: an unsaved row standing for the public schema."""
    return Store(
        schema_name=settings.PUBLIC_SCHEMA_NAME,
        name=settings.PLATFORM_NAME,
        subdomain="",
    )


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
        if connection.schema_name == store.schema_name and connection.search_path_set_schemas:
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
        host = request.META.get("HTTP_HOST", "").split(":")[0].lower()
        platform = settings.PLATFORM_DOMAIN
        if response.cookies and host and host != platform and not host.endswith(f".{platform}"):
            for morsel in response.cookies.values():
                morsel["domain"] = ""
        return response


# Paths a suspended store still answers: its owner must be able to see why.
_SUSPENDED_ALLOWED = ("/dashboard", "/static/", "/healthz")


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
            and not request.path.startswith(_SUSPENDED_ALLOWED)
        ):
            return store_unavailable(request)
        return self.get_response(request)
