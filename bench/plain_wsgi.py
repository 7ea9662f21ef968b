"""The baseline for bench/tenancy_overhead: the same app with host routing bypassed.

Every request is served from one store's schema, fixed at start-up: no host lookup, no
cache read, no search_path switching — what the page costs in plain Django.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402

settings.MIDDLEWARE = [
    "bench.plain_wsgi.FixedStoreMiddleware" if m == "tenants.middleware.StoreMiddleware" else m
    for m in settings.MIDDLEWARE
]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()


class FixedStoreMiddleware:
    store = None

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.db import connection

        from tenants.models import Store

        if FixedStoreMiddleware.store is None:
            FixedStoreMiddleware.store = Store.objects.get(subdomain=os.environ["BENCH_STORE"])
            connection.set_tenant(FixedStoreMiddleware.store)
        request.tenant = FixedStoreMiddleware.store
        return self.get_response(request)
