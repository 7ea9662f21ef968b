"""The seller's sales list: filters, pagination and a streaming CSV share one queryset."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

from catalog.money import to_decimal_string

from .csv_export import csv_writer, spreadsheet_safe
from .models import DownloadGrant, Purchase


@dataclass(frozen=True)
class SalesFilter:
    product: str = ""
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    problems: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, query) -> SalesFilter:
        problems: list[str] = []

        def parse(name: str) -> date | None:
            raw = (query.get(name) or "").strip()
            if not raw:
                return None
            try:
                return date.fromisoformat(raw)
            except ValueError:
                problems.append(
                    f"“{raw[:30]}” is not a date (use YYYY-MM-DD); that filter was ignored."
                )
                return None

        status = (query.get("status") or "").strip()
        if status and status not in Purchase.Status.values:
            problems.append(f"Unknown status “{status[:30]}”; showing every status.")
            status = ""
        product = (query.get("product") or "").strip()[:40]
        date_from, date_to = parse("from"), parse("to")
        if date_from and date_to and date_from > date_to:
            problems.append("The start date is after the end date; the dates were swapped.")
            date_from, date_to = date_to, date_from
        return cls(product, status, date_from, date_to, tuple(problems))

    def apply(self, qs: QuerySet[Purchase]) -> QuerySet[Purchase]:
        if self.product:
            qs = qs.filter(product__uid=self.product) if _is_uuid(self.product) else qs.none()
        if self.status:
            qs = qs.filter(status=self.status)
        tz = timezone.get_current_timezone()
        if self.date_from:
            qs = qs.filter(created_at__gte=datetime.combine(self.date_from, time.min, tz))
        if self.date_to:
            qs = qs.filter(
                created_at__lt=datetime.combine(self.date_to + timedelta(days=1), time.min, tz)
            )
        return qs


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def sales_queryset(flt: SalesFilter) -> QuerySet[Purchase]:
    return flt.apply(
        Purchase.objects.select_related("product", "code").prefetch_related("grants")
    ).order_by("-created_at", "-pk")


# Downloads of every file of a purchase (one grant per file).
_downloads = Subquery(
    DownloadGrant.objects.filter(purchase=OuterRef("pk"))
    .values("purchase")
    .annotate(total=Sum("download_count"))
    .values("total")[:1]
)

CSV_HEADER = [
    "date",
    "order",
    "buyer_email",
    "product",
    "amount",
    "platform_fee",
    "net",
    "currency",
    "status",
    "downloads",
    "discount_code",
    "discount",
    "refunded",
    "fee_refunded",
    # Stripe Tax: added on top of `amount` (the fee is on `amount`, before tax).
    "tax",
    "tax_rate",
    "tax_country",
]


def sales_csv_rows(flt: SalesFilter) -> Iterator[str]:
    """CSV lines, fetched in chunks from a server-side cursor: memory stays flat."""
    writer = csv_writer()
    yield writer.writerow(CSV_HEADER)
    rows = (
        flt.apply(Purchase.objects.all())
        .annotate(downloads=_downloads)
        .order_by("-created_at", "-pk")
        .values_list(
            "created_at",
            "uid",
            "buyer_email",
            "product__title",
            "amount",
            "platform_fee",
            "currency",
            "status",
            "downloads",
            "code__code",
            "discount",
            "amount_refunded",
            "fee_refunded",
            "tax_amount",
            "tax_rate",
            "tax_country",
        )
        .iterator(chunk_size=2000)
    )
    for (
        created,
        uid,
        email,
        title,
        amount,
        fee,
        currency,
        status,
        downloads,
        code,
        off,
        refunded,
        fee_back,
        tax,
        tax_rate,
        tax_country,
    ) in rows:
        yield writer.writerow(
            [
                created.isoformat(timespec="seconds"),
                uid,
                spreadsheet_safe(email),
                spreadsheet_safe(title),
                to_decimal_string(amount, currency),
                to_decimal_string(fee, currency),
                to_decimal_string(amount - fee, currency),
                currency.upper(),
                status,
                downloads or 0,
                spreadsheet_safe((code or "").upper()),
                to_decimal_string(off, currency),
                to_decimal_string(refunded, currency),
                to_decimal_string(fee_back, currency),
                to_decimal_string(tax, currency),
                "" if tax_rate is None else f"{tax_rate.normalize():f}",
                tax_country,
            ]
        )
