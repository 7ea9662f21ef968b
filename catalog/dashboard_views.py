"""The seller's product pages: check access, validate a form, call one service, answer.

Pages are the owner's (`store_owner_or_admin_view`: anonymous → log in, another seller →
403; a platform admin may look, read-only and audited); writes are the owner's only
(`store_owner_required`). Products are found by uid in this store's
schema, so another store's uid is simply not there (404).

Forms with files are posted by static/js/upload.js (XMLHttpRequest, for the progress bar)
or by the browser. An invalid form answers with the form and its errors, status 400; a
valid one with a redirect — for the script, as JSON `{"location": …}` it follows itself,
because XMLHttpRequest would follow a real redirect silently and use up the flash message.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from tenants.decorators import store_owner_or_admin_view, store_owner_required

from .forms import ProductCreateForm, ProductEditForm, ProductFileForm, ProductPreviewForm
from .hooks import product_currency_default, product_has_sales, product_stats
from .models import Product
from .money import MoneyError, read_price
from .services import (
    product_archive,
    product_create,
    product_delete,
    product_duplicate,
    product_publish,
    product_replace_file,
    product_set_preview,
    product_unpublish,
    product_update,
)
from .storage import private_storage
from .uploads import refused_uploads

_LIST_FIELDS = (
    "uid",
    "title",
    "slug",
    "price",
    "currency",
    "status",
    "cover",
    "cover_state",
    "cover_widths",
    "page_count",
    "file_size",
    "file",
    "created_at",
    "published_at",
)


def _writes(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A write: POST only, the owner only."""
    return store_owner_required(require_POST(view))


def _product(uid: UUID) -> Product:
    return get_object_or_404(Product, uid=uid)


def _edit_url(product: Product) -> str:
    return reverse("catalog_dash:edit", kwargs={"uid": product.uid})


def _uploaded(request: HttpRequest, url: str) -> HttpResponse:
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return JsonResponse({"location": url})
    return redirect(url)


def _bind(form_class, request: HttpRequest):
    """The posted form and whether it is valid; a file the upload handler stopped for its
    size is an error on its field (not "choose a file": it was chosen, and too large)."""
    form = form_class(request.POST, request.FILES)
    refused = refused_uploads(request)
    valid = form.is_valid() and not refused
    for field, message in refused.items():
        form.errors.pop(field, None)
        form.add_error(field if field in form.fields else None, message)
    return form, valid


def _render(request: HttpRequest, template: str, context: dict, *, status: int = 200):
    return render(request, template, {"dash_section": "products", **context}, status=status)


@store_owner_or_admin_view
def product_list(request: HttpRequest) -> HttpResponse:
    archived = request.GET.get("show") == "archived"
    products = list(
        (Product.objects.archived() if archived else Product.objects.visible_in_dashboard())
        .only(*_LIST_FIELDS)
        .order_by("-created_at")
    )
    # Sales and revenue come from payments through catalog.hooks; {} until it registers.
    stats_by_product = product_stats(p.pk for p in products)
    rows = [{"product": p, "stats": stats_by_product.get(p.pk)} for p in products]
    return _render(
        request,
        "catalog/dashboard/product_list.html",
        {
            "rows": rows,
            "stats_by_product": stats_by_product,
            "showing_archived": archived,
            "archived_count": None if archived else Product.objects.archived().count(),
        },
    )


@store_owner_required
def price_reading_view(request: HttpRequest) -> HttpResponse:
    """How we read a typed price, for the form to show back while the seller types
    (static/js/upload.js); the form's price_confirmed carries the token back."""
    try:
        reading = read_price(request.GET.get("price", ""), request.GET.get("currency", ""))
    except MoneyError as exc:
        return JsonResponse({"error": str(exc)})
    return JsonResponse(
        {
            "display": reading.display,
            "token": reading.token,
            "shown_back": reading.needs_confirmation,
        }
    )


@store_owner_or_admin_view
def product_create_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form, valid = _bind(ProductCreateForm, request)
        if valid:
            try:
                product = product_create(**form.service_kwargs())
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"“{product.title}” is saved as a draft.")
                return _uploaded(request, _edit_url(product))
        return _render(request, "catalog/dashboard/product_create.html", {"form": form}, status=400)
    form = ProductCreateForm(initial={"currency": product_currency_default()})
    return _render(request, "catalog/dashboard/product_create.html", {"form": form})


@store_owner_or_admin_view
def product_edit_view(request: HttpRequest, uid: UUID) -> HttpResponse:
    product = _product(uid)
    if request.method == "POST":
        form, valid = _bind(ProductEditForm, request)
        if valid:
            try:
                product_update(product=product, **form.service_kwargs())
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "Changes saved.")
                return _uploaded(request, _edit_url(product))
        status = 400
    else:
        form = ProductEditForm(initial=ProductEditForm.initial_for(product))
        status = 200
    context = {
        "product": product,
        "form": form,
        "file_form": ProductFileForm(),
        "preview_form": ProductPreviewForm(initial=ProductPreviewForm.initial_for(product)),
        "versions": product.versions.all(),
    }
    return _render(request, "catalog/dashboard/product_edit.html", context, status=status)


@_writes
def product_preview_view(request: HttpRequest, uid: UUID) -> HttpResponse:
    """Choose the free preview's pages; an error keeps what the seller typed."""
    product = _product(uid)
    form = ProductPreviewForm(request.POST)
    if form.is_valid():
        try:
            product = product_set_preview(
                product=product, pages_text=form.cleaned_data["preview_pages"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if product.preview_pages:
                pages = ", ".join(str(p) for p in product.preview_pages)
                messages.success(
                    request,
                    f"Preview of page{'s' if len(product.preview_pages) > 1 else ''} {pages} "
                    "is being made; buyers see it on the product page in a moment.",
                )
            else:
                messages.success(request, "No preview: buyers see the cover only.")
            return redirect(_edit_url(product))
    context = {
        "product": product,
        "form": ProductEditForm(initial=ProductEditForm.initial_for(product)),
        "file_form": ProductFileForm(),
        "preview_form": form,
        "versions": product.versions.all(),
    }
    return _render(request, "catalog/dashboard/product_edit.html", context, status=400)


@store_owner_or_admin_view
def product_replace_file_view(request: HttpRequest, uid: UUID) -> HttpResponse:
    product = _product(uid)
    if request.method == "POST":
        form, valid = _bind(ProductFileForm, request)
        if valid:
            try:
                product_after = product_replace_file(
                    product=product, file=form.cleaned_data["file"]
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "New PDF uploaded. Earlier buyers keep their version.")
                if product.preview_pages != product_after.preview_pages:
                    messages.warning(request, _preview_dropped(product, product_after))
                return _uploaded(request, _edit_url(product))
        status = 400
    else:
        form = ProductFileForm()
        status = 200
    context = {"product": product, "file_form": form}
    return _render(request, "catalog/dashboard/product_file.html", context, status=status)


def _preview_dropped(before: Product, after: Product) -> str:
    gone = [p for p in before.preview_pages if p not in after.preview_pages]
    kept = ", ".join(str(p) for p in after.preview_pages)
    return (
        f"The new PDF has {after.page_count} page{'s' if after.page_count != 1 else ''}, so "
        f"page{'s' if len(gone) > 1 else ''} {', '.join(map(str, gone))} left the preview"
        + (f"; it now shows {kept}." if kept else ", which is now empty: choose its pages again.")
    )


@store_owner_or_admin_view
def product_file_download_view(request: HttpRequest, uid: UUID) -> HttpResponse:
    """The seller's own current PDF, delivered like a buyer's (presigned URL or stream)."""
    product = _product(uid)
    if not product.file:
        messages.error(request, "This product has no PDF yet.")
        return redirect(_edit_url(product))
    return private_storage().deliver(
        product.file.name, filename=product.file_name, content_type="application/pdf"
    )


@_writes
def product_publish_view(request: HttpRequest, uid: UUID) -> HttpResponse:
    product = _product(uid)
    try:
        product = product_publish(product=product, store=request.tenant)
    except ValidationError as exc:
        messages.error(request, "Not published yet. " + " ".join(exc.messages))
    else:
        messages.success(request, f"“{product.title}” is on sale.")
    return redirect(_edit_url(product))


@_writes
def product_unpublish_view(request: HttpRequest, uid: UUID) -> HttpResponse:
    product = product_unpublish(product=_product(uid))
    messages.success(request, f"“{product.title}” is a draft again: buyers no longer see it.")
    return redirect(_edit_url(product))


@_writes
def product_archive_view(request: HttpRequest, uid: UUID) -> HttpResponse:
    product = product_archive(product=_product(uid))
    messages.success(request, f"“{product.title}” is archived. Buyers keep their downloads.")
    return redirect("catalog_dash:list")


@_writes
def product_duplicate_view(request: HttpRequest, uid: UUID) -> HttpResponse:
    copy = product_duplicate(product=_product(uid))
    messages.success(request, f"Copied as “{copy.title}” (a draft).")
    return redirect(_edit_url(copy))


@_writes
def product_delete_view(request: HttpRequest, uid: UUID) -> HttpResponse:
    product = _product(uid)
    try:
        product_delete(product=product, has_sales=product_has_sales(product.pk))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(_edit_url(product))
    messages.success(request, f"“{product.title}” is deleted.")
    return redirect("catalog_dash:list")
