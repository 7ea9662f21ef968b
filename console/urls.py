"""/console/ on the main domain (config/urls_public.py)."""

from __future__ import annotations

from django.urls import path

from . import health, views

app_name = "console"

urlpatterns = [
    path("", views.stores, name="stores"),
    path("stores/<int:pk>/", views.store_detail, name="store"),
    path("stores/<int:pk>/suspend/", views.store_suspend, name="store_suspend"),
    path("stores/<int:pk>/restore/", views.store_restore, name="store_restore"),
    path("stores/<int:pk>/fee/", views.store_fee, name="store_fee"),
    path("stores/<int:pk>/dashboard/", views.store_impersonate, name="store_impersonate"),
    path("fees/", views.fees, name="fees"),
    path("fees.csv", views.fees_csv, name="fees_csv"),
    path("webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/<int:pk>/retry/", views.webhook_retry, name="webhook_retry"),
    path("webhooks/retry-failed/", views.webhooks_retry_failed, name="webhooks_retry_failed"),
    path("audit/", views.audit, name="audit"),
    path("health/", health.health, name="health"),
]
