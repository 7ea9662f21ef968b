"""The store urlconf plus a stock one-query Django page, the baseline the storefront is
measured against (bench/tenancy_overhead.py, bench/load.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

from config.urls_tenants import urlpatterns as store_urlpatterns

_PAGE = engines["django"].from_string(
    "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{{ product.title }}"
    "</title></head><body><h1>{{ product.title }}</h1><p>{{ product.price }}</p></body></html>"
)


def one_query(request: HttpRequest) -> HttpResponse:
    """One SELECT, one small template: what a minimal Django page costs here."""
    from catalog.models import Product

    product = Product.objects.only("title", "price").order_by("pk").first()
    return HttpResponse(_PAGE.render({"product": product}, request))


urlpatterns = [path("one-query/", one_query), *store_urlpatterns]
