"""Read-side figures for the seller dashboard: one grouped query each, whatever the volume."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalog.hooks import ProductStats
from catalog.money import format_amount

from .models import Purchase

PERIODS = (("7 days", 7), ("30 days", 30), ("90 days", 90), ("All time", None))


@dataclass
class Figures:
    currency: str
    gross: int = 0
    fees: int = 0
    refunded: int = 0
    sales: int = 0

    @property
    def net(self) -> int:
        return self.gross - self.fees

    def display(self, amount: int) -> str:
        return format_amount(amount, self.currency)

    @property
    def gross_display(self) -> str:
        return self.display(self.gross)

    @property
    def fees_display(self) -> str:
        return self.display(self.fees)

    @property
    def net_display(self) -> str:
        return self.display(self.net)

    @property
    def refunded_display(self) -> str:
        return self.display(self.refunded)


@dataclass
class Period:
    label: str
    days: int | None
    by_currency: list[Figures] = field(default_factory=list)


def sales_overview(now=None) -> list[Period]:
    """Gross (paid sales), platform fees, net and count per currency for each period.

    Refunded and disputed sales are not in gross; refunds are shown on their own.
    One query: conditional aggregates per currency.
    """
    now = now or timezone.now()
    paid = Q(status=Purchase.Status.PAID)
    refunded = Q(status=Purchase.Status.REFUNDED)
    aggregates = {}
    for index, (_, days) in enumerate(PERIODS):
        window = Q(created_at__gte=now - timedelta(days=days)) if days else Q()
        aggregates[f"g{index}"] = Sum("amount", filter=paid & window, default=0)
        aggregates[f"f{index}"] = Sum("platform_fee", filter=paid & window, default=0)
        aggregates[f"r{index}"] = Sum("amount", filter=refunded & window, default=0)
        aggregates[f"n{index}"] = Count("id", filter=paid & window)
    rows = Purchase.objects.values("currency").annotate(**aggregates).order_by("currency")
    periods = [Period(label, days) for label, days in PERIODS]
    for row in rows:
        for index, period in enumerate(periods):
            period.by_currency.append(
                Figures(
                    currency=row["currency"],
                    gross=row[f"g{index}"],
                    fees=row[f"f{index}"],
                    refunded=row[f"r{index}"],
                    sales=row[f"n{index}"],
                )
            )
    return periods


def sales_by_day(*, days: int = 30, now=None) -> dict[str, list[tuple[date, int]]]:
    """Paid gross per day and currency for the chart, zero-filled."""
    now = now or timezone.now()
    start = (now - timedelta(days=days - 1)).date()
    rows = (
        Purchase.objects.filter(status=Purchase.Status.PAID, created_at__date__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("currency", "day")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    totals: dict[str, dict[date, int]] = defaultdict(dict)
    for row in rows:
        totals[row["currency"]][row["day"]] = row["total"]
    return {
        currency: [
            (start + timedelta(days=i), per_day.get(start + timedelta(days=i), 0))
            for i in range(days)
        ]
        for currency, per_day in totals.items()
    }


def top_products(limit: int = 5) -> list[dict]:
    rows = (
        Purchase.objects.filter(status=Purchase.Status.PAID)
        .values("product__title", "product__uid", "currency")
        .annotate(sales=Count("id"), revenue=Sum("amount"))
        .order_by("-revenue")[:limit]
    )
    return [
        {**row, "revenue_display": format_amount(row["revenue"], row["currency"])} for row in rows
    ]


def purchase_stats_by_product(product_ids: list[int]) -> dict[int, ProductStats]:
    """catalog.hooks provider: paid sales and revenue per product (one query)."""
    rows = (
        Purchase.objects.filter(product_id__in=product_ids)
        .values("product_id")
        .annotate(
            sales=Count("id"),
            revenue=Sum("amount", filter=Q(status=Purchase.Status.PAID), default=0),
        )
    )
    return {row["product_id"]: {"sales": row["sales"], "revenue": row["revenue"]} for row in rows}
