from __future__ import annotations

from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("p/<slug:slug>/", views.product_detail, name="product"),
    path("covers/<uuid:key>.png", views.cover, name="cover"),
    path("covers/<uuid:key>-<int:width>.webp", views.cover_sized, name="cover_sized"),
    path("previews/<uuid:key>.pdf", views.preview, name="preview"),
    path("previews/<uuid:key>-<int:position>.webp", views.preview_page, name="preview_page"),
]
