"""The seller's discount codes, on the store's domain under /dashboard/codes/.

The list is the owner's (a platform admin may look, read-only and audited); creating and
deactivating are the owner's only. Codes live in this store's schema and are found by
uid, so another store's code is simply not there (404).
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from tenants.decorators import store_owner_or_admin_view, store_owner_required

from .code_forms import DiscountCodeForm
from .discounts import discount_code_create, discount_code_deactivate
from .models import DiscountCode


def _page(request: HttpRequest, form: DiscountCodeForm, *, status: int = 200) -> HttpResponse:
    codes = DiscountCode.objects.prefetch_related("products").order_by("-created_at")
    return render(
        request,
        "catalog/dashboard/code_list.html",
        {"dash_section": "codes", "form": form, "codes": codes},
        status=status,
    )


@store_owner_or_admin_view
def code_list(request: HttpRequest) -> HttpResponse:
    return _page(request, DiscountCodeForm())


@store_owner_required
@require_POST
def code_create(request: HttpRequest) -> HttpResponse:
    form = DiscountCodeForm(request.POST)
    if form.is_valid():
        try:
            made = discount_code_create(**form.service_kwargs())
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Code {made.code.upper()} is live.")
            return redirect("catalog_codes:list")
    return _page(request, form, status=400)


@store_owner_required
@require_POST
def code_deactivate(request: HttpRequest, uid: UUID) -> HttpResponse:
    code = get_object_or_404(DiscountCode, uid=uid)
    discount_code_deactivate(code=code)
    messages.success(request, f"Code {code.code.upper()} no longer works for new orders.")
    return redirect("catalog_codes:list")
