"""config/urls_tenants.py: path("dashboard/codes/", include("catalog.code_urls"))."""

from __future__ import annotations

from django.urls import path

from . import code_views as views

app_name = "catalog_codes"

urlpatterns = [
    path("", views.code_list, name="list"),
    path("new/", views.code_create, name="create"),
    path("<uuid:uid>/deactivate/", views.code_deactivate, name="deactivate"),
]
