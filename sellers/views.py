from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from tenants.services import store_create

from .decorators import seller_required
from .forms import StoreCreateForm


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "sellers/landing.html")


def admin_login(request: HttpRequest) -> HttpResponse:
    """/admin/login/: admins sign in on the one sign-in page, with its rate limits (the
    admin's own form would take unlimited password guesses), then come back."""
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("admin:index")
    if not request.user.is_authenticated:
        return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")
    if request.user.is_active and request.user.is_staff:
        return redirect(next_url)
    return render(
        request,
        "tenants/forbidden.html",
        {"message": "This account has no access to the admin."},
        status=403,
    )


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
