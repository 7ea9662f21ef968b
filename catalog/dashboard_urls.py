"""Product management, on the store's domain under /dashboard/products/ (owner only).

config/urls_tenants.py: path("dashboard/products/", include("catalog.dashboard_urls")).
Products are addressed by their uid, never by their sequential pk. One action per URL;
every action is a POST.
"""

from __future__ import annotations

from django.urls import path

from . import dashboard_views as views

app_name = "catalog_dash"

urlpatterns = [
    path("", views.product_list, name="list"),
    path("new/", views.product_create_view, name="create"),
    path("price/", views.price_reading_view, name="price"),
    path("<uuid:uid>/", views.product_edit_view, name="edit"),
    path("<uuid:uid>/file/", views.product_replace_file_view, name="replace_file"),
    path("<uuid:uid>/file/download/", views.product_file_download_view, name="download"),
    path("<uuid:uid>/preview/", views.product_preview_view, name="preview"),
    path("<uuid:uid>/publish/", views.product_publish_view, name="publish"),
    path("<uuid:uid>/unpublish/", views.product_unpublish_view, name="unpublish"),
    path("<uuid:uid>/archive/", views.product_archive_view, name="archive"),
    path("<uuid:uid>/duplicate/", views.product_duplicate_view, name="duplicate"),
    path("<uuid:uid>/delete/", views.product_delete_view, name="delete"),
]
