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
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from tenants.decorators import store_owner_or_admin_view, store_owner_required

from .forms import (
    FileAddForm,
    FileSlotForm,
    FileVersionForm,
    ProductCreateForm,
    ProductEditForm,
    ProductFileForm,
    ProductPreviewForm,
)
from .hooks import (
    product_currency_default,
    product_has_sales,
    product_stats,
    version_notices,
)
from .models import FileSlot, Product
from .money import MoneyError, read_price
from .services import (
    product_archive,
    product_create,
    product_delete,
    product_duplicate,
    product_file_add,
    product_file_move,
    product_file_remove,
    product_file_replace,
    product_file_update,
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
    "pay_what_you_want",
    "status",
    "cover",
    "cover_state",
    "cover_widths",
    "page_count",
    "file_size",
    "file",
    "created_at",
    "published_at",
    "is_bundle",
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
        **_files_context(product),
        "preview_form": ProductPreviewForm(initial=ProductPreviewForm.initial_for(product)),
    }
    return _render(request, "catalog/dashboard/product_edit.html", context, status=status)


def _files_context(product: Product, *, bound: dict | None = None) -> dict:
    """The product's files, each with its versions and, for versions given to past
    buyers, the update emails sent (payments counts them, catalog.hooks): 3 queries."""
    slots = list(product.slots.select_related("current").prefetch_related("versions"))
    given = [v.pk for slot in slots for v in slot.versions.all() if v.given_to_past_buyers]
    notices = version_notices(given)
    files = [
        {
            "slot": slot,
            "form": (bound or {}).get(slot.pk) or FileSlotForm.for_slot(slot),
            "versions": [{"version": v, "notices": notices.get(v.pk)} for v in slot.versions.all()],
        }
        for slot in slots
    ]
    return {"files": files, "versions": product.versions.all()}


def _slot(product: Product, slot_uid: UUID) -> FileSlot:
    return get_object_or_404(FileSlot, uid=slot_uid, product=product)


@store_owner_or_admin_view
def file_add_view(request: HttpRequest, uid: UUID) -> HttpResponse:
    product = _product(uid)
    if request.method == "POST":
        form, valid = _bind(FileAddForm, request)
        if valid:
            try:
                slot = product_file_add(
                    product=product,
                    file=form.cleaned_data["file"],
                    name=form.cleaned_data["name"],
                    download_limit=form.cleaned_data["download_limit"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"“{slot.name}” added: buyers from now on get it too.")
                return _uploaded(request, _edit_url(product))
        status = 400
    else:
        form = FileAddForm()
        status = 200
    context = {"product": product, "file_form": form}
    return _render(request, "catalog/dashboard/file_add.html", context, status=status)


@store_owner_or_admin_view
def file_version_view(request: HttpRequest, uid: UUID, slot_uid: UUID) -> HttpResponse:
    product = _product(uid)
    slot = _slot(product, slot_uid)
    if request.method == "POST":
        form, valid = _bind(FileVersionForm, request)
        if valid:
            give = form.cleaned_data["give_to_past_buyers"]
            try:
                product_file_replace(
                    product=product,
                    slot=slot,
                    file=form.cleaned_data["file"],
                    give_to_past_buyers=give,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    f"New version of “{slot.name}” uploaded. "
                    + (
                        "Past buyers get it and an email with its link."
                        if give
                        else "Past buyers keep the version they paid for."
                    ),
                )
                return _uploaded(request, _edit_url(product))
        status = 400
    else:
        form = FileVersionForm()
        status = 200
    context = {"product": product, "slot": slot, "file_form": form}
    return _render(request, "catalog/dashboard/file_version.html", context, status=status)


@_writes
def file_update_view(request: HttpRequest, uid: UUID, slot_uid: UUID) -> HttpResponse:
    product = _product(uid)
    slot = _slot(product, slot_uid)
    form = FileSlotForm.for_slot(slot, request.POST)
    if form.is_valid():
        try:
            product_file_update(
                product=product,
                slot=slot,
                name=form.cleaned_data["name"],
                download_limit=form.cleaned_data["download_limit"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"“{slot.name}” saved.")
            return redirect(_edit_url(product))
    context = {
        "product": product,
        "form": ProductEditForm(initial=ProductEditForm.initial_for(product)),
        "file_form": ProductFileForm(),
        **_files_context(product, bound={slot.pk: form}),
    }
    return _render(request, "catalog/dashboard/product_edit.html", context, status=400)


def _move(request: HttpRequest, uid: UUID, slot_uid: UUID, offset: int) -> HttpResponse:
    product = _product(uid)
    product_file_move(product=product, slot=_slot(product, slot_uid), offset=offset)
    return redirect(_edit_url(product) + "#files")


@_writes
def file_move_up_view(request: HttpRequest, uid: UUID, slot_uid: UUID) -> HttpResponse:
    return _move(request, uid, slot_uid, -1)


@_writes
def file_move_down_view(request: HttpRequest, uid: UUID, slot_uid: UUID) -> HttpResponse:
    return _move(request, uid, slot_uid, +1)


@_writes
def file_remove_view(request: HttpRequest, uid: UUID, slot_uid: UUID) -> HttpResponse:
    product = _product(uid)
    slot = _slot(product, slot_uid)
    try:
        product_file_remove(product=product, slot=slot)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"“{slot.name}” removed.")
    return redirect(_edit_url(product) + "#files")


@store_owner_or_admin_view
def file_download_view(request: HttpRequest, uid: UUID, slot_uid: UUID) -> HttpResponse:
    """The seller's own copy of one file's current version."""
    product = _product(uid)
    slot = get_object_or_404(
        FileSlot.objects.select_related("current"), uid=slot_uid, product=product
    )
    if slot.current is None:
        raise Http404("This file has no version yet.")
    return private_storage().deliver(
        slot.current.file.name, filename=slot.current.file_name, content_type="application/pdf"
    )


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
        **_files_context(product),
        "preview_form": form,
    }
    return _render(request, "catalog/dashboard/product_edit.html", context, status=400)


def _preview_dropped(before: Product, after: Product) -> str:
    gone = [p for p in before.preview_pages if p not in after.preview_pages]
    kept = ", ".join(str(p) for p in after.preview_pages)
    return (
        f"The new PDF has {after.page_count} page{'s' if after.page_count != 1 else ''}, so "
        f"page{'s' if len(gone) > 1 else ''} {', '.join(map(str, gone))} left the preview"
        + (f"; it now shows {kept}." if kept else ", which is now empty: choose its pages again.")
    )


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
