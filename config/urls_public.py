"""The main domain: landing, accounts, onboarding, webhooks, console, admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from config import site_files
from config.health import healthz
from payments.webhooks import stripe_webhook
from sellers import handoff
from sellers import views as seller_views

urlpatterns = [
    path("", seller_views.landing, name="landing"),
    path("healthz", healthz, name="healthz"),
    path("robots.txt", site_files.robots_txt, name="robots_txt"),
    path("favicon.ico", site_files.favicon, name="favicon"),
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
    # Before the admin's own: admins sign in through allauth's page and its rate limits.
    path("admin/login/", seller_views.admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
]
