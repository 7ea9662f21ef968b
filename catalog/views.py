from __future__ import annotations

from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import cache_control

from .models import Product
from .storage import private_storage


def storefront(request: HttpRequest) -> HttpResponse:
    products = Product.objects.published().order_by("-published_at", "-created_at")
    return render(request, "catalog/storefront.html", {"products": products})


def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product.objects.published(), slug=slug)
    return render(request, "catalog/product.html", {"product": product})


@cache_control(public=True, max_age=31_536_000, immutable=True)
def cover(request: HttpRequest, uid: str) -> HttpResponse:
    """Covers are public and immutable (a new cover gets a new name); PDFs never are."""
    product = get_object_or_404(
        Product.objects.exclude(cover="").only("cover", "status"), uid=uid
    )
    return FileResponse(private_storage().open(product.cover.name, "rb"), content_type="image/png")
