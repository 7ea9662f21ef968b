"""The seller dashboard home on the store's domain: catalog and payments figures together."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from catalog.charts import bar_chart
from catalog.models import Product
from catalog.money import money_display
from payments.dashboard_views import connection_state
from payments.queries import sales_by_day, sales_overview, top_products
from tenants.decorators import store_owner_or_admin_view


@store_owner_or_admin_view
def dashboard_home(request: HttpRequest) -> HttpResponse:
    store = request.tenant
    charts = [
        {
            "currency": currency,
            "svg": bar_chart(
                points,
                label=f"Daily sales in {currency.upper()}, last 30 days",
                fmt=lambda v, c=currency: money_display(v, c),
                period="day",
            ),
        }
        for currency, points in sorted(sales_by_day(days=30).items())
    ]
    return render(
        request,
        "sellers/dashboard/home.html",
        {
            "welcome": request.GET.get("welcome") == "1",
            "dash_section": "home",
            "periods": sales_overview(),
            "charts": charts,
            "top": top_products(),
            "products_published": Product.objects.published().count(),
            "products_total": Product.objects.visible_in_dashboard().count(),
            "stripe": connection_state(store),
        },
    )
