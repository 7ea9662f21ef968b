"""A store's domain: storefront, checkout, downloads, buyer library, seller dashboard."""

from __future__ import annotations

from django.urls import include, path

from catalog import views as catalog_views
from config.health import healthz
from sellers.dashboard import dashboard_home

urlpatterns = [
    path("", catalog_views.storefront, name="storefront"),
    path("healthz", healthz),
    path("dashboard/", dashboard_home, name="dashboard"),
    path("dashboard/", include("payments.dashboard_urls")),
    path("", include("payments.urls")),
    path("", include("catalog.urls")),
]
