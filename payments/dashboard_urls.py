from __future__ import annotations

from django.urls import path

from . import dashboard_views as views
from . import leak_views

app_name = "payments_dash"

urlpatterns = [
    path("stripe/", views.stripe_status, name="stripe"),
    path("stripe/connect/", views.stripe_connect, name="stripe_connect"),
    path("stripe/refresh/", views.stripe_refresh, name="stripe_refresh"),
    path("stripe/return/", views.stripe_return, name="stripe_return"),
    path("sales/", views.sales_list, name="sales"),
    path("sales.csv", views.sales_csv, name="sales_csv"),
    path("sales/trace/", leak_views.leak_trace_view, name="leak_trace"),
    path("sales/<uuid:uid>/refund/", views.sale_refund, name="sale_refund"),
    path("sales/<uuid:uid>/resend-receipt/", views.sale_resend_receipt, name="sale_resend_receipt"),
    path(
        "sales/<uuid:uid>/reset-downloads/", views.sale_reset_downloads, name="sale_reset_downloads"
    ),
]
