from __future__ import annotations

from django.urls import path

from . import views

app_name = "sellers"

urlpatterns = [
    path("start/", views.home, name="home"),
    path("start/new/", views.store_create_view, name="store_create"),
]
