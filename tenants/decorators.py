from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from .origins import platform_origin


def main_site_url(path: str) -> str:
    return platform_origin() + path


def login_url_for(request: HttpRequest) -> str:
    """The main domain's sign-in hand-off, coming back to this (store) page afterwards.

    It asks for a login first when needed; see sellers.handoff."""
    return main_site_url("/accounts/handoff/?" + urlencode({"next": request.build_absolute_uri()}))


def is_store_owner(request: HttpRequest) -> bool:
    store = getattr(request, "tenant", None)
    user = request.user
    return bool(
        store is not None
        and not store.is_public
        and user.is_authenticated
        and store.owner_id == user.pk
    )


def store_owner_required(view):
    """Owner only: anonymous → the login page, anyone else → 403.

    Platform admins may look at a store's dashboard read-only (GET) — the console logs it.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return HttpResponseRedirect(login_url_for(request))
        if is_store_owner(request):
            request.impersonating = False
            return view(request, *args, **kwargs)
        if request.user.is_superuser and request.method in ("GET", "HEAD"):
            request.impersonating = True
            return view(request, *args, **kwargs)
        return render(
            request,
            "tenants/forbidden.html",
            {"message": "This dashboard belongs to another seller."},
            status=403,
        )

    return wrapper


def store_active_required(view):
    """Checkout and downloads stop while a store is suspended."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.tenant.is_active:
            from .views import store_unavailable

            return store_unavailable(request)
        return view(request, *args, **kwargs)

    return wrapper
