from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


def store_not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    body = render_to_string(
        "tenants/not_found.html", {"host": request.META.get("HTTP_HOST", "")[:255]}, request=None
    )
    return HttpResponse(body, status=404)


def store_unavailable(request: HttpRequest) -> HttpResponse:
    body = render_to_string("tenants/unavailable.html", {"store": request.tenant}, request=None)
    response = HttpResponse(body, status=503)
    response["Retry-After"] = "3600"
    return response


def store_moving(request: HttpRequest) -> HttpResponse:
    """A write during a store's move to another cell (tenants.moves): nothing was saved."""
    body = render_to_string("tenants/moving.html", {"store": request.tenant}, request=None)
    response = HttpResponse(body, status=503)
    response["Retry-After"] = "30"
    return response
