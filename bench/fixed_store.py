"""A middleware for the baseline: one store, fixed at start-up, no host routing."""

from __future__ import annotations

import os


class FixedStoreMiddleware:
    store = None

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.db import connection

        from tenants.models import Store

        if FixedStoreMiddleware.store is None:
            FixedStoreMiddleware.store = Store.objects.get(subdomain=os.environ["BENCH_STORE"])
        if getattr(connection, "tenant", None) is not FixedStoreMiddleware.store:
            # Once per connection: each thread of a gthread worker has its own.
            connection.set_tenant(FixedStoreMiddleware.store)
        request.tenant = FixedStoreMiddleware.store
        return self.get_response(request)
