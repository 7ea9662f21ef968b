from __future__ import annotations

from django.urls import path

from . import dashboard_views as views

app_name = "payments_dash"

urlpatterns = [
    path("stripe/", views.stripe_status, name="stripe"),
    path("stripe/connect/", views.stripe_connect, name="stripe_connect"),
    path("stripe/refresh/", views.stripe_refresh, name="stripe_refresh"),
    path("stripe/return/", views.stripe_return, name="stripe_return"),
]
