"""A store's domain: storefront, checkout, downloads, buyer library, seller dashboard."""

from __future__ import annotations

from django.urls import include, path

from catalog import views as catalog_views
from config import site_files
from config.health import healthz
from sellers import handoff, store_settings
from sellers.dashboard import dashboard_home

urlpatterns = [
    path("", catalog_views.storefront, name="storefront"),
    path("healthz", healthz),
    path("robots.txt", catalog_views.robots_txt, name="robots_txt"),
    path("favicon.ico", site_files.favicon, name="favicon"),
    path("auth/handoff/", handoff.handoff_finish, name="handoff_finish"),
    path("dashboard/", dashboard_home, name="dashboard"),
    path("dashboard/settings/", store_settings.store_settings, name="store_settings"),
    path("dashboard/settings/domains/", store_settings.domain_create, name="store_domain_create"),
    path(
        "dashboard/settings/domains/<int:pk>/verify/",
        store_settings.domain_check,
        name="store_domain_check",
    ),
    path(
        "dashboard/settings/domains/<int:pk>/remove/",
        store_settings.domain_delete,
        name="store_domain_delete",
    ),
    path("dashboard/products/", include("catalog.dashboard_urls")),
    path("dashboard/codes/", include("catalog.code_urls")),
    path("dashboard/", include("payments.dashboard_urls")),
    path("", include("payments.urls")),
    path("", include("catalog.urls")),
]
