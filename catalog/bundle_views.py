"""The seller's bundle pages (issue #12): make a bundle by picking products, change them.

Thin, like catalog.dashboard_views: check access, read the form, call one service of
catalog.bundles, answer. Picked products travel as uids and are looked up in this store's
schema only, so a uid of another store's product is refused with a message, not found.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from tenants.decorators import store_owner_or_admin_view, store_owner_required

from .bundles import bundle_candidates, bundle_create, bundle_items_set
from .hooks import product_currency_default
from .models import Product
from .money import CURRENCY_CHOICES


def _page(request: HttpRequest, context: dict, *, status: int = 200) -> HttpResponse:
    return render(
        request,
        "catalog/dashboard/bundle_form.html",
        {"dash_section": "products", "currencies": CURRENCY_CHOICES, **context},
        status=status,
    )


def _all_candidates(bundle: Product | None) -> list[Product]:
    products = (
        Product.objects.visible_in_dashboard()
        .filter(is_bundle=False)
        .only("uid", "title", "price", "currency", "status")
        .order_by("currency", "title")
    )
    return [p for p in products if bundle is None or p.pk != bundle.pk]


@store_owner_or_admin_view
def bundle_create_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(
            request,
            {
                "candidates": _all_candidates(None),
                "values": {"currency": product_currency_default()},
                "chosen": set(),
            },
        )
    return _bundle_create_post(request)


@store_owner_required
def _bundle_create_post(request: HttpRequest) -> HttpResponse:
    values = {k: request.POST.get(k, "") for k in ("title", "description", "price", "currency")}
    chosen = request.POST.getlist("items")
    try:
        bundle = bundle_create(
            title=values["title"],
            description=values["description"],
            price_text=values["price"],
            currency=values["currency"],
            item_uids=chosen,
        )
    except ValidationError as exc:
        return _page(
            request,
            {
                "candidates": _all_candidates(None),
                "values": values,
                "chosen": set(chosen),
                "errors": _messages(exc),
            },
            status=400,
        )
    messages.success(request, f"“{bundle.title}” is saved as a draft bundle.")
    return redirect(reverse("catalog_dash:edit", kwargs={"uid": bundle.uid}))


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{m}" for messages_ in exc.message_dict.values() for m in messages_]
    return list(exc.messages)


@store_owner_or_admin_view
def bundle_items_view(request: HttpRequest, uid: UUID) -> HttpResponse:
    bundle = get_object_or_404(Product, uid=uid)
    if request.method == "POST":
        return _bundle_items_post(request, bundle)
    return _page(
        request,
        {
            "bundle": bundle,
            "candidates": bundle_candidates(bundle=bundle, currency=bundle.currency),
            "chosen": {str(p.uid) for p in bundle.bundle_items.all()},
        },
    )


@store_owner_required
def _bundle_items_post(request: HttpRequest, bundle: Product) -> HttpResponse:
    chosen = request.POST.getlist("items")
    try:
        bundle_items_set(bundle=bundle, item_uids=chosen)
    except ValidationError as exc:
        return _page(
            request,
            {
                "bundle": bundle,
                "candidates": bundle_candidates(bundle=bundle, currency=bundle.currency),
                "chosen": set(chosen),
                "errors": _messages(exc),
            },
            status=400,
        )
    messages.success(request, "The bundle's products are saved.")
    return redirect(reverse("catalog_dash:edit", kwargs={"uid": bundle.uid}))
