"""The storefront: what buyers see on a store's domain. Published products only."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from .models import Product
from .page_cache import cached_page, page_context
from .storage import private_storage


@require_safe
@cached_page
def storefront(request: HttpRequest) -> HttpResponse:
    products = Product.objects.for_storefront()
    return render(request, "catalog/storefront.html", page_context(request, {"products": products}))


@require_safe
@cached_page
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    # Drafts and archived products are not for sale: 404, as if they did not exist.
    product = get_object_or_404(Product.objects.published(), slug=slug)
    return render(request, "catalog/product.html", page_context(request, {"product": product}))


@require_safe
@cache_control(public=True, max_age=31_536_000, immutable=True)
def cover(request: HttpRequest, key: str) -> HttpResponse:
    """Covers are public and immutable: a new cover gets a new name, hence a new URL.

    The lookup runs in this store's schema, so only this store's covers are found; the
    key is a UUID, so nothing but "covers/<uuid>.png" can reach the storage.
    """
    name = f"covers/{key}.png"
    if not Product.objects.filter(cover=name, cover_state=Product.CoverState.READY).exists():
        raise Http404("No such cover.")
    try:
        handle = private_storage().open(name, "rb")
    except FileNotFoundError:
        raise Http404("No such cover.") from None
    response = FileResponse(handle, content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    return response


def robots_txt(request: HttpRequest) -> HttpResponse:
    """Shops want their products indexed, never their private links."""
    lines = [
        "User-agent: *",
        "Disallow: /d/",
        "Disallow: /dashboard/",
        "Disallow: /library/",
        "Disallow: /thanks/",
        "Disallow: /buy/",
        "Disallow: /auth/",
        "",
    ]
    return HttpResponse("\n".join(lines), content_type="text/plain")
