"""The store urlconf plus what the lead wires later, so the catalog tests run today.

- the product dashboard, until config/urls_tenants.py includes catalog.dashboard_urls;
- a stand-in for `payments:checkout` (the product page's Buy button), until payments
  has its urls. Each is added only when the real one is missing.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import get_resolver, include, path

from config import urls_tenants

_namespaces = get_resolver(urls_tenants).namespace_dict

urlpatterns = list(urls_tenants.urlpatterns)

if "catalog_dash" not in _namespaces:
    urlpatterns.append(path("dashboard/products/", include("catalog.dashboard_urls")))

if "payments" not in _namespaces:

    def _checkout_standin(request, slug):
        return HttpResponse("checkout stand-in", status=501)

    urlpatterns.append(
        path(
            "_test/",
            include(
                ([path("checkout/<slug:slug>/", _checkout_standin, name="checkout")], "payments")
            ),
        )
    )
