"""The baselines for bench/tenancy_overhead: the same app with host routing bypassed, and a
stock one-query page at /one-query/ on it.

Every request is served from one store's schema, fixed at start-up: no host lookup, no
cache read, no search_path switching — what the page costs in plain Django.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings

# The store's pages, plus the one-query page (bench/one_query_urls.py).
settings.ROOT_URLCONF = "bench.one_query_urls"
settings.MIDDLEWARE = [
    "bench.fixed_store.FixedStoreMiddleware" if m == "tenants.middleware.StoreMiddleware" else m
    for m in settings.MIDDLEWARE
]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
