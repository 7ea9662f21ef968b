"""The platform console: thin views over console.queries (reads) and console.services
(writes). Superusers only; everyone else gets a 404 (console.decorators)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from catalog.charts import bar_chart
from catalog.money import CURRENCIES, money_display
from payments.platform.models import StripeEvent
from tenants.models import Store

from . import queries, services
from .decorators import superuser_required
from .forms import FeeForm, SuspendForm
from .models import AuditEntry


def _page(request: HttpRequest, rows, per_page: int = queries.PER_PAGE):
    # get_page turns junk into page 1 and numbers past the end into the last page.
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


def _problems(request: HttpRequest, problems: tuple[str, ...]) -> None:
    for problem in problems:
        messages.warning(request, problem)


def _errors(exc: ValidationError) -> list[str]:
    return [
        m
        for messages_ in getattr(exc, "message_dict", {"": exc.messages}).values()
        for m in messages_
    ]


# --- Stores -------------------------------------------------------------------------------


@superuser_required
@require_GET
def stores(request: HttpRequest) -> HttpResponse:
    params = queries.StoreListParams.from_query(request.GET)
    page = _page(request, queries.stores_queryset(params))
    page.object_list = queries.attach_store_figures(list(page.object_list))
    sort_links = {}
    for key in queries.STORE_SORTS:
        current = params.sort_key == key
        nxt = key if not current or params.reversed else f"-{key}"
        sort_links[key] = {
            "url": "?" + params.querystring(sort=nxt),
            "active": current,
            "arrow": ("↑" if params.reversed else "↓") if current else "",
        }
    return render(
        request,
        "console/stores.html",
        {
            "section": "stores",
            "page": page,
            "params": params,
            "query": params.querystring(),
            "sort_links": sort_links,
            "summary": queries.platform_summary(),
            "currencies": list(CURRENCIES),
        },
    )


def _store_or_404(pk: int) -> Store:
    store = queries.store_for_console(pk)
    if store is None:
        raise Http404("No such store")
    return store


def _store_page(
    request: HttpRequest,
    store: Store,
    *,
    suspend_form: SuspendForm | None = None,
    fee_form: FeeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    state, account = queries.stripe_state(store)
    default_percent, default_fixed = queries.platform_default_fee()
    fee_initial = {"fee_percent": store.fee_percent, "fee_fixed": store.fee_fixed}
    return render(
        request,
        "console/store.html",
        {
            "section": "stores",
            "s": store,
            "stripe_state": state,
            "account": account,
            "fee": queries.fee_in_force(store),
            "default_percent": default_percent,
            "default_fixed": default_fixed,
            "totals": queries.ledger_totals(store.ledger.all()),
            "sales": queries.store_recent_sales(store),
            "audit": queries.store_recent_audit(store),
            "products_count": queries.store_products_count(store),
            "suspend_form": suspend_form or SuspendForm(),
            "fee_form": fee_form or FeeForm(initial=fee_initial),
        },
        status=status,
    )


@superuser_required
@require_GET
def store_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _store_page(request, _store_or_404(pk))


@superuser_required
@require_POST
def store_suspend(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(pk)
    form = SuspendForm(request.POST)
    if not form.is_valid():
        return _store_page(request, store, suspend_form=form, status=400)
    try:
        services.console_store_suspend(
            actor=request.user, store=store, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        for error in _errors(exc):
            messages.error(request, error)
    else:
        messages.success(
            request, f"{store.name} is suspended. Its storefront now shows “unavailable”."
        )
    return redirect("console:store", pk=store.pk)


@superuser_required
@require_POST
def store_restore(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(pk)
    try:
        services.console_store_restore(actor=request.user, store=store)
    except ValidationError as exc:
        for error in _errors(exc):
            messages.error(request, error)
    else:
        messages.success(request, f"{store.name} is active again.")
    return redirect("console:store", pk=store.pk)


@superuser_required
@require_POST
def store_fee(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(pk)
    form = FeeForm(request.POST)
    if not form.is_valid():
        return _store_page(request, store, fee_form=form, status=400)
    try:
        services.console_store_set_fee(
            actor=request.user,
            store=store,
            fee_percent=form.cleaned_data["fee_percent"],
            fee_fixed=form.cleaned_data["fee_fixed"],
        )
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for name, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(name if name in form.fields else None, error)
            return _store_page(request, store, fee_form=form, status=400)
        for error in exc.messages:
            messages.info(request, error)
    else:
        messages.success(request, f"The fee for {store.name} is updated; past sales keep theirs.")
    return redirect("console:store", pk=store.pk)


@superuser_required
@require_POST
def store_impersonate(request: HttpRequest, pk: int) -> HttpResponse:
    store = _store_or_404(pk)
    return redirect(services.console_impersonation_start(actor=request.user, store=store))


# --- Fees ---------------------------------------------------------------------------------


@superuser_required
@require_GET
def fees(request: HttpRequest) -> HttpResponse:
    flt = queries.FeeFilter.from_query(request.GET)
    _problems(request, flt.problems)
    page = _page(request, queries.fee_rows(flt))
    series = queries.monthly_fees(flt)
    charts = [
        {
            "series": s,
            "svg": bar_chart(
                s.points,
                label=f"Platform fees per month in {s.currency.upper()}",
                fmt=lambda v, code=s.currency: money_display(v, code),
                period="month",
                highlight=flt.month,
            ),
        }
        for s in series
    ]
    months = [m for m, _ in series[0].points][::-1] if series else []
    monthly_table = [
        {"month": m, "values": [(dict(s.points)[m], s.currency) for s in series]} for m in months
    ]
    return render(
        request,
        "console/fees.html",
        {
            "section": "fees",
            "filter": flt,
            "query": flt.querystring(),
            "page": page,
            "totals": queries.fee_totals(flt),
            "charts": charts,
            "series": series,
            "monthly_table": monthly_table,
            "currencies": list(CURRENCIES),
            "statuses": queries.LEDGER_STATUSES,
        },
    )


@superuser_required
@require_GET
def fees_csv(request: HttpRequest) -> StreamingHttpResponse:
    # Junk filter values are dropped, as on the page; the CSV has no place for messages.
    flt = queries.FeeFilter.from_query(request.GET)
    response = StreamingHttpResponse(
        queries.fees_csv_rows(flt), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="fee-ledger-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


# --- Webhooks -----------------------------------------------------------------------------


@superuser_required
@require_GET
def webhooks(request: HttpRequest) -> HttpResponse:
    flt = queries.EventFilter.from_query(request.GET)
    _problems(request, flt.problems)
    counts = queries.event_status_counts()
    incidents, incident_count = queries.payment_incidents()
    return render(
        request,
        "console/webhooks.html",
        {
            "section": "webhooks",
            "incidents": incidents,
            "incident_count": incident_count,
            "filter": flt,
            "query": flt.querystring(),
            "page": _page(request, queries.events_queryset(flt)),
            "counts": counts,
            "status_cards": [
                (value, label, counts.get(value, 0)) for value, label in StripeEvent.Status.choices
            ],
            "types": queries.event_types(),
            "statuses": StripeEvent.Status.choices,
        },
    )


def _back_to_webhooks(request: HttpRequest) -> HttpResponse:
    nxt = request.POST.get("next", "")
    if nxt.startswith(reverse("console:webhooks")) and url_has_allowed_host_and_scheme(
        nxt, allowed_hosts={request.get_host()}
    ):
        return redirect(nxt)
    return redirect("console:webhooks")


@superuser_required
@require_POST
def webhook_retry(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(StripeEvent.objects.defer("payload"), pk=pk)
    try:
        services.console_event_retry(actor=request.user, event=event)
    except ValidationError as exc:
        for error in _errors(exc):
            messages.error(request, error)
    else:
        messages.success(request, f"{event.event_id} is queued again.")
    return _back_to_webhooks(request)


@superuser_required
@require_POST
def webhooks_retry_failed(request: HttpRequest) -> HttpResponse:
    count = services.console_events_retry_failed(actor=request.user)
    if count == 0:
        messages.info(request, "No failed events to retry.")
    else:
        more = ""
        if count == services.RETRY_ALL_LIMIT:
            more = " More remain: retry again once these are through."
        messages.success(
            request, f"{count} failed event{'s' if count != 1 else ''} queued again.{more}"
        )
    return _back_to_webhooks(request)


# --- Audit log ----------------------------------------------------------------------------


@superuser_required
@require_GET
def audit(request: HttpRequest) -> HttpResponse:
    action = request.GET.get("action", "")
    if action and action not in AuditEntry.Action.values:
        messages.warning(request, f"Unknown action “{action[:30]}”; showing every action.")
        action = ""
    return render(
        request,
        "console/audit.html",
        {
            "section": "audit",
            "page": _page(request, queries.audit_queryset(action)),
            "action": action,
            "actions": AuditEntry.Action.choices,
            "query": f"action={action}" if action else "",
        },
    )
