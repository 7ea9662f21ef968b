from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from .hooks import admin_view_record
from .origins import platform_origin
from .sessions import admin_view_allowed


def main_site_url(path: str) -> str:
    return platform_origin() + path


def login_url_for(request: HttpRequest) -> str:
    """The main domain's sign-in hand-off, coming back to this (store) page afterwards.

    It asks for a login first when needed; see sellers.handoff."""
    return main_site_url("/accounts/handoff/?" + urlencode({"next": request.build_absolute_uri()}))


def is_store_owner(request: HttpRequest) -> bool:
    """The signed-in user owns the store of this host (in a session this host accepts:
    tenants.middleware.SessionHostMiddleware has set any other aside)."""
    store = getattr(request, "tenant", None)
    user = request.user
    return bool(
        store is not None
        and not store.is_public
        and user.is_authenticated
        and store.owner_id == user.pk
    )


def _refused(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "tenants/forbidden.html", {"message": message}, status=403)


def store_owner_required(view):
    """Owner only: anonymous → the sign-in hand-off, anyone else → 403.

    Every write on a store's dashboard is behind this decorator, so platform admins never
    reach one: their read-only look is `store_owner_or_admin_view`.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return HttpResponseRedirect(login_url_for(request))
        if not is_store_owner(request):
            return _refused(request, "This dashboard belongs to another seller.")
        request.impersonating = False
        return view(request, *args, **kwargs)

    return wrapper


def store_owner_or_admin_view(view):
    """The owner; or, for GET and HEAD only, a platform admin looking read-only.

    Each page an admin opens is written to the audit log (tenants.hooks) before the view
    runs; when it cannot be recorded, the admin is refused. `request.impersonating` tells
    the templates to hide the buttons that would change something.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return HttpResponseRedirect(login_url_for(request))
        if is_store_owner(request):
            request.impersonating = False
            return view(request, *args, **kwargs)
        if not admin_view_allowed(request):
            return _refused(request, "This dashboard belongs to another seller.")
        if request.method not in ("GET", "HEAD"):
            return _refused(
                request, "Platform admins can look at a store's dashboard, not change it."
            )
        if not admin_view_record(actor=request.user, store=request.tenant, request=request):
            return _refused(request, "This visit cannot be recorded right now, so it is refused.")
        request.impersonating = True
        return view(request, *args, **kwargs)

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
