"""A store's domain: storefront, checkout, downloads, buyer library, seller dashboard."""

from __future__ import annotations

from django.urls import include, path

from config.health import healthz
from sellers.dashboard import dashboard_home
from catalog import views as catalog_views

urlpatterns = [
    path("", catalog_views.storefront, name="storefront"),
    path("healthz", healthz),
    path("dashboard/", dashboard_home, name="dashboard"),
    path("", include("catalog.urls")),
]
