from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from tenants.services import store_create

from .decorators import seller_required
from .forms import StoreCreateForm


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "sellers/landing.html")


@seller_required
def home(request: HttpRequest) -> HttpResponse:
    stores = list(request.user.stores.order_by("created_at"))
    if not stores:
        return redirect("sellers:store_create")
    return render(request, "sellers/home.html", {"stores": stores})


@seller_required
@require_http_methods(["GET", "POST"])
def store_create_view(request: HttpRequest) -> HttpResponse:
    form = StoreCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            store = store_create(
                owner=request.user,
                name=form.cleaned_data["name"],
                subdomain=form.cleaned_data["subdomain"],
            )
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"subdomain": exc.messages}
            for field, messages in errors.items():
                for error in messages:
                    form.add_error(field if field in form.fields else None, error)
        else:
            return redirect(f"{store.url}/dashboard/?welcome=1")
    return render(request, "sellers/store_create.html", {"form": form})
