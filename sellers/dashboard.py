"""The seller dashboard home on the store's domain: catalog and payments figures together.

One overview for one period (7 / 30 / 90 days / all, `?period=`): revenue, net after the
platform's and Stripe's fees, sales, product page views and conversion (paid sales ÷
views), then the same per product with a trend line, the referrers that brought views,
and the seller's Stripe balance and payouts. Every figure is one grouped query, whatever
the volume; the balance is one cached Stripe call.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from catalog.charts import bar_chart, sparkline
from catalog.models import Product
from catalog.money import format_amount, money_display
from catalog.pageviews import top_referrers, views_per_product, views_per_product_day
from payments.balances import store_money
from payments.dashboard_views import connection_state
from payments.queries import (
    OVERVIEW_PERIODS,
    period_figures,
    sales_by_day,
    sales_by_month,
    sales_per_product,
    sales_per_product_day,
)
from tenants.decorators import store_owner_or_admin_view

DEFAULT_PERIOD = "30"
TREND_DAYS_ALL = 90  # "all time" rows show the last 90 days' trend
PRODUCT_ROWS = 25


def conversion(sales: int, views: int) -> str:
    """Paid sales ÷ views as a percentage; "—" with no views to divide by."""
    if not views:
        return "—"
    return f"{100 * sales / views:.1f} %"


def _period(request: HttpRequest) -> tuple[str, str, int | None]:
    wanted = request.GET.get("period", DEFAULT_PERIOD)
    for key, label, days in OVERVIEW_PERIODS:
        if key == wanted:
            return key, label, days
    return next(p for p in OVERVIEW_PERIODS if p[0] == DEFAULT_PERIOD)


def _charts(days: int | None) -> list[dict]:
    if days is None:
        series, period, what = sales_by_month(months=12), "month", "per month, last 12 months"
    else:
        series, period, what = sales_by_day(days=days), "day", f"per day, last {days} days"
    return [
        {
            "currency": currency,
            "title": f"Sales {what}",
            "svg": bar_chart(
                points,
                label=f"Sales in {currency.upper()} {what}",
                fmt=lambda v, c=currency: money_display(v, c),
                period=period,
            ),
        }
        for currency, points in sorted(series.items())
    ]


def _product_rows(since, start, trend_days: int) -> list[dict]:
    today = timezone.localdate()
    trend_start = today - timedelta(days=trend_days - 1)
    views = views_per_product(start=start)
    sales = sales_per_product(since=since)
    daily_views = views_per_product_day(start=trend_start)
    daily_sales = sales_per_product_day(start=trend_start)
    ids = set(views) | set(sales)
    products = list(
        Product.objects.filter(pk__in=ids).only("uid", "title", "status")
        if ids
        else Product.objects.published().only("uid", "title", "status")[:PRODUCT_ROWS]
    )
    rows = []
    days_list = [trend_start + timedelta(days=i) for i in range(trend_days)]
    for product in products:
        seen = views.get(product.pk, 0)
        sold = sales.get(product.pk, {"sales": 0, "money": []})
        per_day_views = [daily_views.get(product.pk, {}).get(d, 0) for d in days_list]
        per_day_sales = [daily_sales.get(product.pk, {}).get(d, 0) for d in days_list]
        rows.append(
            {
                "product": product,
                "views": seen,
                "sales": sold["sales"],
                "money": sold["money"],
                "conversion": conversion(sold["sales"], seen),
                "trend": sparkline(
                    per_day_views,
                    per_day_sales,
                    label=(
                        f"{product.title}: {sum(per_day_views)} views and "
                        f"{sum(per_day_sales)} sales in the last {trend_days} days"
                    ),
                ),
            }
        )
    rows.sort(key=lambda r: (-r["sales"], -r["views"], r["product"].title))
    return rows[:PRODUCT_ROWS]


def _money(store) -> dict | None:
    money = store_money(store=store)
    if money is None:
        return None
    balance = money.balance
    return {
        "error": money.error,
        "available": [format_amount(m.amount, m.currency) for m in balance.available]
        if balance
        else [],
        "pending": [format_amount(m.amount, m.currency) for m in balance.pending]
        if balance
        else [],
        "payouts": [
            {
                "amount": format_amount(p.amount, p.currency),
                "status": p.status.replace("_", " "),
                "arrival": datetime.fromtimestamp(p.arrival_date, tz=UTC)
                if p.arrival_date
                else None,
            }
            for p in money.payouts
        ],
    }


@store_owner_or_admin_view
def dashboard_home(request: HttpRequest) -> HttpResponse:
    store = request.tenant
    key, label, days = _period(request)
    # The period is whole days in the store's time zone, today included: views are per day.
    start = timezone.localdate() - timedelta(days=days - 1) if days else None
    since = timezone.make_aware(datetime.combine(start, time.min)) if start else None
    figures = period_figures(since=since)
    views = sum(views_per_product(start=start).values())
    sales = sum(f.sales for f in figures)
    trend_days = days or TREND_DAYS_ALL
    return render(
        request,
        "sellers/dashboard/home.html",
        {
            "welcome": request.GET.get("welcome") == "1",
            "dash_section": "home",
            "periods": [{"key": k, "label": lab} for k, lab, _ in OVERVIEW_PERIODS],
            "period": key,
            "period_label": label,
            "figures": figures,
            "views": views,
            "sales": sales,
            "conversion": conversion(sales, views),
            "unsettled": sum(f.unsettled for f in figures),
            "charts": _charts(days),
            "rows": _product_rows(since, start, trend_days),
            "trend_days": trend_days,
            "referrers": top_referrers(start=start),
            "money": _money(store),
            "products_published": Product.objects.published().count(),
            "products_total": Product.objects.visible_in_dashboard().count(),
            "stripe": connection_state(store),
        },
    )
