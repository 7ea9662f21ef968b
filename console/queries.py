"""The console's read side. Every figure comes from public-schema tables — the fee ledger,
connected accounts, the event inbox — so no page visits the stores' schemas (the store
page's product count is the one exception, for that one store).

Definitions, used on every page and in the CSV:
- a *sale* is a ledger row with status "paid";
- *GMV* is the sum of `amount` over paid rows; *fees* the sum of `platform_fee` over paid
  rows. Refunded and disputed rows count in neither; they are shown as counts beside them;
- amounts are never added across currencies: every total is per currency.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Lower, TruncMonth
from django.utils import timezone
from django_tenants.utils import schema_exists

from catalog.money import CURRENCIES, MoneyError, to_decimal_string
from payments.csv_export import csv_writer, spreadsheet_safe
from payments.fees import FeeRule, fee_rule
from payments.models import PurchaseStatus
from payments.platform.models import (
    AccountState,
    ConnectedAccount,
    FeeLedgerEntry,
    PaymentIncident,
    StripeEvent,
)
from tenants import cells
from tenants.models import Store

from .models import AuditEntry

PER_PAGE = 50
LEDGER_STATUSES = tuple(PurchaseStatus)


# --- Totals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    sales: int = 0  # paid rows
    gmv: int = 0  # paid amounts, minor units
    fees: int = 0  # paid platform fees, minor units
    refunded: int = 0
    disputed: int = 0


def _totals_annotations() -> dict[str, Any]:
    paid = Q(status=PurchaseStatus.PAID)
    return {
        "sales": Count("pk", filter=paid),
        "gmv": Coalesce(Sum("amount", filter=paid), 0),
        "fees": Coalesce(Sum("platform_fee", filter=paid), 0),
        "refunded": Count("pk", filter=Q(status=PurchaseStatus.REFUNDED)),
        "disputed": Count("pk", filter=Q(status=PurchaseStatus.DISPUTED)),
    }


def ledger_totals(rows: QuerySet[FeeLedgerEntry]) -> list[CurrencyTotals]:
    """Per-currency totals of a (filtered) ledger queryset, in one query."""
    grouped = rows.order_by().values("currency").annotate(**_totals_annotations())
    return [CurrencyTotals(**row) for row in sorted(grouped, key=lambda r: r["currency"])]


# --- Stores -------------------------------------------------------------------------------

# Sort key → (expression, descending by default). "-key" reverses the natural order.
STORE_SORTS: dict[str, tuple[Any, bool]] = {
    "created": (F("created_at"), True),
    "name": (Lower("name"), False),
    "sales": (F("sales_count"), True),
    "gmv": (F("gmv_sort"), True),
}
DEFAULT_STORE_SORT = "created"


@dataclass(frozen=True)
class StoreListParams:
    q: str = ""
    sort: str = DEFAULT_STORE_SORT
    # GMV is ranked within one currency: amounts in different currencies do not add up.
    gmv_currency: str = "usd"

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> StoreListParams:
        q = (query.get("q") or "").strip()[:100]
        sort = (query.get("sort") or "").strip()
        if sort.lstrip("-") not in STORE_SORTS:
            sort = DEFAULT_STORE_SORT
        cur = (query.get("cur") or "").strip().lower()
        if cur not in CURRENCIES:
            cur = "usd"
        return cls(q=q, sort=sort, gmv_currency=cur)

    @property
    def sort_key(self) -> str:
        return self.sort.lstrip("-")

    @property
    def reversed(self) -> bool:
        return self.sort.startswith("-")

    def querystring(self, **overrides: str) -> str:
        params = {"q": self.q, "sort": self.sort, "cur": self.gmv_currency, **overrides}
        return urlencode({k: v for k, v in params.items() if v})


def _ledger_for_store() -> QuerySet[FeeLedgerEntry]:
    return (
        FeeLedgerEntry.objects.filter(store=OuterRef("pk"), status=PurchaseStatus.PAID)
        .order_by()
        .values("store")
    )


def stores_queryset(params: StoreListParams) -> QuerySet[Store]:
    """Stores with what the list sorts on; per-currency figures come from `stores_page`."""
    sales = _ledger_for_store().annotate(n=Count("pk")).values("n")
    gmv = (
        _ledger_for_store()
        .filter(currency=params.gmv_currency)
        .annotate(total=Sum("amount"))
        .values("total")
    )
    qs = (
        Store.objects.stores()
        .select_related("owner", "stripe_account")
        .annotate(
            sales_count=Coalesce(Subquery(sales, output_field=IntegerField()), 0),
            gmv_sort=Coalesce(Subquery(gmv, output_field=IntegerField()), 0),
        )
    )
    if params.q:
        qs = qs.filter(
            Q(name__icontains=params.q)
            | Q(subdomain__icontains=params.q)
            | Q(owner__email__icontains=params.q)
        )
    expression, descending = STORE_SORTS[params.sort_key]
    if params.reversed:
        descending = not descending
    order = expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
    return qs.order_by(order, "-pk")


def stripe_state(store: Store) -> tuple[str, ConnectedAccount | None]:
    """The Stripe badge for a store loaded with select_related("stripe_account")."""
    try:
        account = store.stripe_account
    except ConnectedAccount.DoesNotExist:
        return AccountState.NOT_CONNECTED, None
    return account.state, account


def attach_store_figures(stores: list[Store]) -> list[Store]:
    """Give each store `.totals` (per currency) and `.stripe_state`, in one query."""
    by_store: dict[int, list[CurrencyTotals]] = defaultdict(list)
    rows = (
        FeeLedgerEntry.objects.filter(store_id__in=[s.pk for s in stores])
        .order_by()
        .values("store_id", "currency")
        .annotate(**_totals_annotations())
    )
    for row in rows:
        store_id = row.pop("store_id")
        by_store[store_id].append(CurrencyTotals(**row))
    for store in stores:
        store.totals = sorted(by_store.get(store.pk, []), key=lambda t: t.currency)
        store.sales_total = sum(t.sales for t in store.totals)
        store.refunded_total = sum(t.refunded for t in store.totals)
        store.stripe_state, _ = stripe_state(store)
    return stores


@dataclass(frozen=True)
class PlatformSummary:
    stores: int
    suspended: int
    stripe_ready: int
    totals: list[CurrencyTotals]


def platform_summary() -> PlatformSummary:
    counts = Store.objects.stores().aggregate(
        stores=Count("pk"),
        suspended=Count("pk", filter=Q(status=Store.Status.SUSPENDED)),
        stripe_ready=Count(
            "pk",
            filter=Q(
                stripe_account__charges_enabled=True, stripe_account__deauthorized_at__isnull=True
            ),
        ),
    )
    return PlatformSummary(**counts, totals=ledger_totals(FeeLedgerEntry.objects.all()))


# --- One store ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeLine:
    currency: str
    rule: FeeRule
    example_amount: int  # 10.00 in two-decimal currencies, 1,000 in JPY
    example_fee: int


@dataclass(frozen=True)
class FeeInForce:
    percent: Decimal
    percent_overridden: bool
    fixed_overridden: bool
    lines: list[FeeLine] = field(default_factory=list)

    @property
    def overridden(self) -> bool:
        return self.percent_overridden or self.fixed_overridden


def fee_in_force(store: Store) -> FeeInForce:
    """The rule payments will apply to this store's next sale, per currency."""
    lines = []
    for code, cur in CURRENCIES.items():
        rule = fee_rule(currency=code, store_percent=store.fee_percent, store_fixed=store.fee_fixed)
        example = 1000 if cur.exponent == 0 else 10 * 10**cur.exponent
        lines.append(FeeLine(code, rule, example, rule.fee_for(example)))
    return FeeInForce(
        percent=lines[0].rule.percent,
        percent_overridden=store.fee_percent is not None,
        fixed_overridden=store.fee_fixed is not None,
        lines=lines,
    )


def platform_default_fee() -> tuple[Decimal, int]:
    return settings.PLATFORM_FEE_PERCENT, settings.PLATFORM_FEE_FIXED


def store_for_console(pk: int) -> Store | None:
    return (
        Store.objects.stores()
        .select_related("owner", "stripe_account")
        .prefetch_related("domains")
        .filter(pk=pk)
        .first()
    )


def store_recent_sales(store: Store, limit: int = 20) -> list[FeeLedgerEntry]:
    return list(FeeLedgerEntry.objects.filter(store=store).order_by("-created_at", "-pk")[:limit])


def store_recent_audit(store: Store, limit: int = 10) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(store=store).select_related("actor")[:limit])


def store_products_count(store: Store) -> int | None:
    """Read inside the store's own schema: the only cross-schema read in the console."""
    from catalog.models import Product

    if not schema_exists(store.schema_name, database=cells.alias(cells.cell_of(store))):
        return None  # in no cell yet (being created)
    with cells.in_store(store):
        return Product.objects.count()


# --- Fee ledger ---------------------------------------------------------------------------

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def month_bounds(month: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    nxt = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return datetime.combine(month, time.min, tz), datetime.combine(nxt, time.min, tz)


# Filters are small frozen dataclasses parsed from the query string, not django-filter
# FilterSets: junk values are dropped with a message saying so (the page still shows
# everything, never a 400 or an empty list), the chart re-applies a filter without its
# month, the CSV and the page share one parse, and querystring() rebuilds the links. A
# FilterSet would need a custom form for each of those and one more dependency.
def _choice(query: Mapping[str, str], name: str, allowed, *, what: str, problems: list[str]) -> str:
    """`query[name]`, lower-cased, if it is one of `allowed`; else "" and a problem."""
    value = (query.get(name) or "").strip().lower()
    if value and value not in allowed:
        shown = value[:10].upper() if what == "currency" else value[:20]
        problems.append(f"Unknown {what} “{shown}”; showing every {what}.")
        return ""
    return value


@dataclass(frozen=True)
class FeeFilter:
    store: str = ""  # subdomain
    month: date | None = None
    currency: str = ""
    status: str = ""
    problems: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> FeeFilter:
        problems: list[str] = []
        store = (query.get("store") or "").strip().lower()[:63]
        raw_month = (query.get("month") or "").strip()
        month = None
        if raw_month:
            match = _MONTH.match(raw_month)
            try:
                if not match:
                    raise ValueError
                month = date(int(match[1]), int(match[2]), 1)
            except ValueError:
                problems.append(
                    f"“{raw_month[:20]}” is not a month (use YYYY-MM, e.g. 2025-03); showing every month."
                )
        currency = _choice(query, "currency", CURRENCIES, what="currency", problems=problems)
        status = _choice(query, "status", LEDGER_STATUSES, what="status", problems=problems)
        return cls(store, month, currency, status, tuple(problems))

    @property
    def active(self) -> bool:
        return bool(self.store or self.month or self.currency or self.status)

    def apply(
        self, rows: QuerySet[FeeLedgerEntry], *, month: bool = True
    ) -> QuerySet[FeeLedgerEntry]:
        if self.store:
            rows = rows.filter(store__subdomain__iexact=self.store)
        if month and self.month:
            start, end = month_bounds(self.month)
            rows = rows.filter(created_at__gte=start, created_at__lt=end)
        if self.currency:
            rows = rows.filter(currency=self.currency)
        if self.status:
            rows = rows.filter(status=self.status)
        return rows

    def querystring(self) -> str:
        params = {
            "store": self.store,
            "month": f"{self.month:%Y-%m}" if self.month else "",
            "currency": self.currency,
            "status": self.status,
        }
        return urlencode({k: v for k, v in params.items() if v})


def fee_rows(flt: FeeFilter) -> QuerySet[FeeLedgerEntry]:
    return (
        flt.apply(FeeLedgerEntry.objects.select_related("store"))
        .only(
            "created_at",
            "product_title",
            "amount",
            "platform_fee",
            "currency",
            "status",
            "fee_percent",
            "fee_fixed",
            "checkout_session_id",
            "store",
            "store__name",
            "store__subdomain",
        )
        .order_by("-created_at", "-pk")
    )


def fee_totals(flt: FeeFilter) -> list[CurrencyTotals]:
    return ledger_totals(flt.apply(FeeLedgerEntry.objects.all()))


@dataclass(frozen=True)
class MonthlySeries:
    currency: str
    points: list[tuple[date, int]]  # (first day of month, paid fees in minor units)

    @property
    def total(self) -> int:
        return sum(value for _, value in self.points)


def _months_back(end: date, count: int) -> list[date]:
    months = []
    year, month = end.year, end.month
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months[::-1]


def monthly_fees(flt: FeeFilter, *, months: int = 12) -> list[MonthlySeries]:
    """Paid fees per month and currency, the `months` months up to the filtered month
    (or this month); the store and currency filters apply, the status one does not
    (fees are paid-only by definition)."""
    end = flt.month or timezone.localdate().replace(day=1)
    window = _months_back(end, months)
    start, _ = month_bounds(window[0])
    _, stop = month_bounds(window[-1])
    scoped = FeeFilter(store=flt.store, currency=flt.currency).apply(FeeLedgerEntry.objects.all())
    grouped = (
        scoped.filter(status=PurchaseStatus.PAID, created_at__gte=start, created_at__lt=stop)
        .annotate(month=TruncMonth("created_at"))
        .order_by()
        .values("month", "currency")
        .annotate(fees=Sum("platform_fee"))
    )
    by_currency: dict[str, dict[date, int]] = defaultdict(dict)
    for row in grouped:
        by_currency[row["currency"]][row["month"].date()] = row["fees"] or 0
    return [
        MonthlySeries(code, [(m, values.get(m, 0)) for m in window])
        for code, values in sorted(by_currency.items())
    ]


FEES_CSV_HEADER = [
    "created_at",
    "store",
    "store_name",
    "checkout_session_id",
    "payment_intent_id",
    "purchase_uid",
    "product",
    "amount",
    "platform_fee",
    "currency",
    "fee_percent",
    "fee_fixed",
    "status",
    "discount_code",
    "discount",
]


def _decimal(minor: int, currency: str) -> str:
    try:
        return to_decimal_string(minor, currency)
    except MoneyError:
        return str(minor)


def fees_csv_rows(flt: FeeFilter) -> Iterator[str]:
    """The filtered ledger as CSV lines. Rows come from a server-side cursor in chunks
    of 2,000 tuples: memory stays flat however many rows there are."""
    writer = csv_writer()
    yield writer.writerow(FEES_CSV_HEADER)
    rows = (
        flt.apply(FeeLedgerEntry.objects.all())
        .order_by("-created_at", "-pk")
        .values_list(
            "created_at",
            "store__subdomain",
            "store__name",
            "checkout_session_id",
            "payment_intent_id",
            "purchase_uid",
            "product_title",
            "amount",
            "platform_fee",
            "currency",
            "fee_percent",
            "fee_fixed",
            "status",
            "discount_code",
            "discount",
        )
        .iterator(chunk_size=2000)
    )
    for (
        created,
        subdomain,
        name,
        session,
        intent,
        uid,
        title,
        amount,
        fee,
        currency,
        percent,
        fixed,
        status,
        code,
        discount,
    ) in rows:
        yield writer.writerow(
            [
                created.isoformat(timespec="seconds"),
                subdomain,
                spreadsheet_safe(name),
                session,
                intent,
                uid,
                spreadsheet_safe(title),
                _decimal(amount, currency),
                _decimal(fee, currency),
                currency.upper(),
                percent,
                fixed,
                status,
                spreadsheet_safe(code),
                _decimal(discount, currency),
            ]
        )


# --- Webhook inbox ------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilter:
    status: str = ""
    type: str = ""
    problems: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> EventFilter:
        problems: list[str] = []
        status = _choice(
            query, "status", StripeEvent.Status.values, what="status", problems=problems
        )
        kind = (query.get("type") or "").strip()[:100]
        return cls(status, kind, tuple(problems))

    def querystring(self) -> str:
        return urlencode({k: v for k, v in {"status": self.status, "type": self.type}.items() if v})


def events_queryset(flt: EventFilter) -> QuerySet[StripeEvent]:
    """Failures first, then newest first. The payload (can be large) stays in the database."""
    rows = StripeEvent.objects.defer("payload")
    if flt.status:
        rows = rows.filter(status=flt.status)
    if flt.type:
        rows = rows.filter(type=flt.type)
    failed_first = Case(
        When(status=StripeEvent.Status.FAILED, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    return rows.order_by(failed_first, "-received_at", "-pk")


def event_status_counts() -> dict[str, int]:
    counts = dict.fromkeys(StripeEvent.Status.values, 0)
    for row in StripeEvent.objects.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def event_types(limit: int = 200) -> list[str]:
    return list(
        StripeEvent.objects.order_by("type").values_list("type", flat=True).distinct()[:limit]
    )


# --- Audit log ----------------------------------------------------------------------------


def audit_queryset(action: str = "") -> QuerySet[AuditEntry]:
    rows = AuditEntry.objects.select_related("actor", "store")
    if action:
        rows = rows.filter(action=action)
    return rows.order_by("-at", "-pk")


INCIDENTS_SHOWN = 50


def payment_incidents() -> tuple[list[PaymentIncident], int]:
    """Payments the platform did not deliver, newest first, and how many there are."""
    rows = PaymentIncident.objects.select_related("store").order_by("-created_at")
    return list(rows[:INCIDENTS_SHOWN]), rows.count()
