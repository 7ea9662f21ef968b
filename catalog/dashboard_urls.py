"""Product management, on the store's domain under /dashboard/products/ (owner only).

config/urls_tenants.py: path("dashboard/products/", include("catalog.dashboard_urls")).
Products are addressed by their uid, never by their sequential pk. One action per URL;
every action is a POST.
"""

from __future__ import annotations

from django.urls import path

from . import bundle_views
from . import dashboard_views as views

app_name = "catalog_dash"

urlpatterns = [
    path("", views.product_list, name="list"),
    path("new/", views.product_create_view, name="create"),
    path("bundles/new/", bundle_views.bundle_create_view, name="bundle_create"),
    path("<uuid:uid>/bundle/", bundle_views.bundle_items_view, name="bundle_items"),
    path("price/", views.price_reading_view, name="price"),
    path("<uuid:uid>/", views.product_edit_view, name="edit"),
    path("<uuid:uid>/file/", views.product_replace_file_view, name="replace_file"),
    path("<uuid:uid>/file/download/", views.product_file_download_view, name="download"),
    path("<uuid:uid>/files/add/", views.file_add_view, name="file_add"),
    path("<uuid:uid>/files/<uuid:slot_uid>/", views.file_update_view, name="file_update"),
    path("<uuid:uid>/files/<uuid:slot_uid>/version/", views.file_version_view, name="file_version"),
    path("<uuid:uid>/files/<uuid:slot_uid>/up/", views.file_move_up_view, name="file_up"),
    path("<uuid:uid>/files/<uuid:slot_uid>/down/", views.file_move_down_view, name="file_down"),
    path("<uuid:uid>/files/<uuid:slot_uid>/remove/", views.file_remove_view, name="file_remove"),
    path(
        "<uuid:uid>/files/<uuid:slot_uid>/download/",
        views.file_download_view,
        name="file_download",
    ),
    path("<uuid:uid>/preview/", views.product_preview_view, name="preview"),
    path("<uuid:uid>/publish/", views.product_publish_view, name="publish"),
    path("<uuid:uid>/unpublish/", views.product_unpublish_view, name="unpublish"),
    path("<uuid:uid>/archive/", views.product_archive_view, name="archive"),
    path("<uuid:uid>/duplicate/", views.product_duplicate_view, name="duplicate"),
    path("<uuid:uid>/delete/", views.product_delete_view, name="delete"),
]
