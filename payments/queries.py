"""Read-side figures for the seller dashboard: one grouped query each, whatever the volume."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, ExpressionWrapper, F, IntegerField, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth
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


# --- The overview's period (sellers.dashboard) ------------------------------------------------

OVERVIEW_PERIODS = (("7", "7 days", 7), ("30", "30 days", 30), ("90", "90 days", 90),
                    ("all", "All time", None))  # fmt: skip


@dataclass
class PeriodFigures:
    """One currency's sales in a period. `net` is what the seller keeps: Stripe's net from
    the balance transaction where Stripe has made it (in this currency), else the amount
    less the platform fee; `unsettled` counts the sales still waiting for Stripe's fee."""

    currency: str
    gross: int = 0
    platform_fees: int = 0
    stripe_fees: int = 0
    net: int = 0
    sales: int = 0
    refunded: int = 0
    unsettled: int = 0

    def _fmt(self, amount: int) -> str:
        return format_amount(amount, self.currency)

    @property
    def gross_display(self) -> str:
        return self._fmt(self.gross)

    @property
    def net_display(self) -> str:
        return self._fmt(self.net)

    @property
    def platform_fees_display(self) -> str:
        return self._fmt(self.platform_fees)

    @property
    def stripe_fees_display(self) -> str:
        return self._fmt(self.stripe_fees)

    @property
    def refunded_display(self) -> str:
        return self._fmt(self.refunded)


def _window(since) -> Q:
    return Q(created_at__gte=since) if since is not None else Q()


def _settled() -> Q:
    return Q(stripe_fee__isnull=False, settlement_currency=F("currency"))


def period_figures(*, since=None) -> list[PeriodFigures]:
    """Gross, fees (platform's and Stripe's), net and sales per currency since a time
    (all time for None); one query."""
    window = _window(since)
    paid = Q(status=Purchase.Status.PAID) & window
    kept = ExpressionWrapper(F("amount") - F("platform_fee"), output_field=IntegerField())
    rows = (
        Purchase.objects.values("currency")
        .annotate(
            gross=Sum("amount", filter=paid, default=0),
            platform_fees=Sum("platform_fee", filter=paid, default=0),
            stripe_fees=Sum("stripe_fee", filter=paid & _settled(), default=0),
            net_settled=Sum("seller_net", filter=paid & _settled(), default=0),
            net_unsettled=Sum(kept, filter=paid & ~_settled(), default=0),
            unsettled=Count("id", filter=paid & ~_settled()),
            sales=Count("id", filter=paid),
            refunded=Sum("amount", filter=Q(status=Purchase.Status.REFUNDED) & window, default=0),
        )
        .order_by("currency")
    )
    return [
        PeriodFigures(
            currency=row["currency"],
            gross=row["gross"],
            platform_fees=row["platform_fees"],
            stripe_fees=row["stripe_fees"],
            net=row["net_settled"] + row["net_unsettled"],
            sales=row["sales"],
            refunded=row["refunded"],
            unsettled=row["unsettled"],
        )
        for row in rows
        if row["sales"] or row["refunded"]
    ]


def sales_per_product(*, since=None) -> dict[int, dict]:
    """Paid sales, revenue and net per product since a time (one query)."""
    paid = Q(status=Purchase.Status.PAID) & _window(since)
    kept = ExpressionWrapper(F("amount") - F("platform_fee"), output_field=IntegerField())
    rows = (
        Purchase.objects.filter(paid)
        .values("product_id", "currency")
        .annotate(
            sales=Count("id"),
            revenue=Sum("amount"),
            net_settled=Sum("seller_net", filter=_settled(), default=0),
            net_unsettled=Sum(kept, filter=~_settled(), default=0),
        )
        .order_by()
    )
    found: dict[int, dict] = {}
    for row in rows:
        entry = found.setdefault(row["product_id"], {"sales": 0, "money": []})
        entry["sales"] += row["sales"]
        net = row["net_settled"] + row["net_unsettled"]
        entry["money"].append(
            {
                "currency": row["currency"],
                "revenue_display": format_amount(row["revenue"], row["currency"]),
                "net_display": format_amount(net, row["currency"]),
            }
        )
    return found


def sales_per_product_day(*, start: date) -> dict[int, dict[date, int]]:
    """Paid sales per product and day since `start`, for the trend lines (one query)."""
    rows = (
        Purchase.objects.filter(status=Purchase.Status.PAID, created_at__date__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("product_id", "day")
        .annotate(n=Count("id"))
        .order_by()
    )
    found: dict[int, dict[date, int]] = defaultdict(dict)
    for row in rows:
        found[row["product_id"]][row["day"]] = row["n"]
    return found


def sales_by_month(*, months: int = 12, now=None) -> dict[str, list[tuple[date, int]]]:
    """Paid gross per month and currency for the all-time chart, zero-filled."""
    now = now or timezone.now()
    first = now.date().replace(day=1)
    starts = [first]
    for _ in range(months - 1):
        starts.insert(0, (starts[0] - timedelta(days=1)).replace(day=1))
    rows = (
        Purchase.objects.filter(status=Purchase.Status.PAID, created_at__date__gte=starts[0])
        .annotate(month=TruncMonth("created_at"))
        .values("currency", "month")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    totals: dict[str, dict[date, int]] = defaultdict(dict)
    for row in rows:
        month = row["month"].date() if hasattr(row["month"], "date") else row["month"]
        totals[row["currency"]][month] = row["total"]
    return {c: [(m, per.get(m, 0)) for m in starts] for c, per in totals.items()}
