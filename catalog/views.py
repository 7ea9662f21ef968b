"""The storefront: what buyers see on a store's domain. Published products only."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import prefetch_related_objects
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from tenants.decorators import is_store_owner

from .bundles import bundle_offer
from .discounts import discount_quote
from .models import Product, cover_sized_name
from .page_cache import cached_page, page_context
from .storage import private_storage


@require_safe
@cached_page
def storefront(request: HttpRequest) -> HttpResponse:
    products = list(Product.objects.for_storefront())
    # A bundle's card says what it includes and the saving: one query for all bundles.
    bundles = [p for p in products if p.is_bundle]
    if bundles:
        prefetch_related_objects(bundles, "bundle_items")
        for bundle in bundles:
            items = [i for i in bundle.bundle_items.all() if i.is_published]
            bundle.offer = bundle_offer(bundle, sorted(items, key=lambda p: p.title.lower()))
    # A shared link to the store shows the first cover there is.
    social_cover = next((p for p in products if p.cover_key), None)
    return render(
        request,
        "catalog/storefront.html",
        page_context(request, {"products": products, "social_cover": social_cover}),
    )


@require_safe
@cached_page
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    # Drafts and archived products are not for sale: 404, as if they did not exist.
    product = get_object_or_404(Product.objects.published(), slug=slug)
    # `?code=` comes from the code form below the price, or from a link the seller shared.
    code = request.GET.get("code", "").strip()[:64]
    quote, code_error = None, ""
    if code:
        try:
            quote = discount_quote(product=product, code=code)
        except ValidationError as exc:
            code_error = exc.messages[0]
    context = {
        "product": product,
        # What the buyer gets when the product has several files (one query).
        "files": list(product.slots.filter(current__isnull=False).select_related("current")),
        "code": code,
        "quote": quote,
        "code_error": code_error,
    }
    if product.is_bundle:
        items = sorted(product.bundle_items.published(), key=lambda p: p.title.lower())
        context["bundle"] = bundle_offer(product, items)
    return render(request, "catalog/product.html", page_context(request, context))


@require_safe
def cover(request: HttpRequest, key: str) -> HttpResponse:
    """A published product's cover is public and immutable: a new cover gets a new name,
    hence a new URL. A draft's or an archived product's is its owner's only (the
    dashboard shows it), never cached by anyone else.

    The lookup runs in this store's schema, so only this store's covers are found; the
    key is a UUID, so nothing but "covers/<uuid>.png" can reach the storage.
    """
    name = f"covers/{key}.png"
    status = (
        Product.objects.filter(cover=name, cover_state=Product.CoverState.READY)
        .values_list("status", flat=True)
        .first()
    )
    published = status == Product.Status.PUBLISHED
    if status is None or not (published or is_store_owner(request)):
        raise Http404("No such cover.")
    try:
        handle = private_storage().open(name, "rb")
    except FileNotFoundError:
        raise Http404("No such cover.") from None
    response = FileResponse(handle, content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    if published:
        patch_cache_control(response, public=True, max_age=31_536_000, immutable=True)
    else:
        patch_cache_control(response, private=True, no_store=True)
    return response


@require_safe
def cover_sized(request: HttpRequest, key: str, width: int) -> HttpResponse:
    """A cover's WebP copy at one of the widths the cover task made; the same rule as
    `cover`: public for a published product, its owner's only otherwise."""
    cover = f"covers/{key}.png"
    if not 0 < width < 32_768:  # the column is smallint: never ask PostgreSQL for more
        raise Http404("No such cover.")
    status = (
        Product.objects.filter(
            cover=cover, cover_state=Product.CoverState.READY, cover_widths__contains=[width]
        )
        .values_list("status", flat=True)
        .first()
    )
    published = status == Product.Status.PUBLISHED
    if status is None or not (published or is_store_owner(request)):
        raise Http404("No such cover.")
    try:
        handle = private_storage().open(cover_sized_name(cover, width), "rb")
    except FileNotFoundError:
        raise Http404("No such cover.") from None
    response = FileResponse(handle, content_type="image/webp")
    response["X-Content-Type-Options"] = "nosniff"
    if published:
        patch_cache_control(response, public=True, max_age=31_536_000, immutable=True)
    else:
        patch_cache_control(response, private=True, no_store=True)
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
