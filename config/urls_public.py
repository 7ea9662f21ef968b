"""The main domain: landing, accounts, onboarding, webhooks, console, admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from config.health import healthz
from payments.webhooks import stripe_webhook
from sellers import handoff
from sellers import views as seller_views

urlpatterns = [
    path("", seller_views.landing, name="landing"),
    path("healthz", healthz, name="healthz"),
    path("stripe/webhook/", stripe_webhook, name="stripe_webhook"),  # Connect endpoint
    path(
        "stripe/webhook/account/",
        stripe_webhook,
        {"endpoint": "account"},
        name="stripe_webhook_account",
    ),
    path("accounts/handoff/", handoff.handoff_start, name="handoff_start"),
    path("accounts/", include("allauth.urls")),
    path("", include("sellers.urls")),
    path("console/", include("console.urls")),
    path("admin/", admin.site.urls),
]
