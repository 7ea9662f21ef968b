"""The seller dashboard home on the store's domain: catalog and payments figures together."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.decorators import store_owner_required


@store_owner_required
def dashboard_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "sellers/dashboard/home.html",
        {"welcome": request.GET.get("welcome") == "1", "dash_section": "home"},
    )
