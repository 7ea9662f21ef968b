"""Seller pages for payments: Stripe connection. (Sales pages: sellers/console issue.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from payments.platform.models import AccountState
from payments.platform.services import connected_account_for
from tenants.decorators import store_owner_or_admin_view, store_owner_required

from . import services
from .countries import BY_CODE, COUNTRY_CHOICES, country_check, country_default
from .fees import fee_rule
from .models import Purchase, Refund
from .requirements import requirement_labels
from .stripe_client import Account, StripeFailure


def _urls(request: HttpRequest) -> tuple[str, str]:
    base = f"{request.scheme}://{request.get_host()}/dashboard/stripe"
    return f"{base}/return/", f"{base}/refresh/"


def connection_state(store) -> dict:
    account = connected_account_for(store)
    if account is None:
        return {"state": AccountState.NOT_CONNECTED, "account": None}
    return {"state": account.state, "account": account}


def _example_price(currency: str) -> int:
    # A typical PDF price in the currency's minor units: 12.00 (or ¥1,500).
    return 1500 if currency == "jpy" else 1200


def _fee_context(store, currency: str) -> dict:
    """What the platform takes, said before the seller connects (percent + fixed + example)."""
    from catalog.money import CURRENCIES, format_amount

    if currency not in CURRENCIES:
        currency = "usd"
    rule = fee_rule(currency=currency, store_percent=store.fee_percent, store_fixed=store.fee_fixed)
    price = _example_price(currency)
    return {
        "fee_percent": f"{rule.percent.normalize():f}",
        "fee_fixed": format_amount(rule.fixed, currency) if rule.fixed else "",
        "fee_example_price": format_amount(price, currency),
        "fee_example": format_amount(rule.fee_for(price), currency),
    }


def _stripe_context(request: HttpRequest, state: dict, account: Account | None = None) -> dict:
    """The Stripe page's context; `account` (fresh from Stripe) overrides the stored row."""
    store = request.tenant
    context = dict(state)
    row = state.get("account")
    if account is not None:
        context["state"] = "ready" if account.charges_enabled else "action_needed"
        due, deadline = account.requirements_due, account.requirements_deadline
        context["requirements_deadline"] = (
            datetime.fromtimestamp(deadline, tz=UTC) if deadline else None
        )
        context["payouts_enabled"] = account.payouts_enabled
    else:
        due = list(row.requirements_due) if row is not None else []
        context["requirements_deadline"] = row.requirements_deadline if row is not None else None
        context["payouts_enabled"] = bool(row and row.payouts_enabled)
    context["requirements"] = requirement_labels(due)
    default = country_default(accept_language=request.headers.get("Accept-Language", ""))
    if row is not None and row.country in BY_CODE:
        context["account_country"] = BY_CODE[row.country].name
    context["countries"] = COUNTRY_CHOICES
    context["country_default"] = default
    context.update(_fee_context(store, BY_CODE[default].currency))
    context["dash_section"] = "stripe"
    return context


@store_owner_or_admin_view
def stripe_status(request: HttpRequest) -> HttpResponse:
    context = _stripe_context(request, connection_state(request.tenant))
    return render(request, "payments/dashboard/stripe.html", context)


@require_POST
@store_owner_required
def stripe_connect(request: HttpRequest) -> HttpResponse:
    """Create the store's Stripe account if it has none (in the country the seller chose),
    then send the seller to Stripe's onboarding."""
    row = connected_account_for(request.tenant)
    country = request.POST.get("country", "")
    if row is None or row.deauthorized_at:
        try:
            country = country_check(country).code
        except ValueError as exc:
            messages.error(request, str(exc))
            return redirect("payments_dash:stripe")
    return_url, refresh_url = _urls(request)
    try:
        url = services.connect_start(
            store=request.tenant,
            email=request.user.email,
            country=country,
            return_url=return_url,
            refresh_url=refresh_url,
        )
    except StripeFailure as exc:
        messages.error(request, f"Could not start Stripe onboarding: {exc.user_message}")
        return redirect("payments_dash:stripe")
    return HttpResponseRedirect(url)


@store_owner_required
def stripe_refresh(request: HttpRequest) -> HttpResponse:
    """Account Links are single-use and expire: Stripe sends the seller here for a new one.

    A GET: it only mints a link for the account the store has; creating one is a POST.
    """
    return_url, refresh_url = _urls(request)
    try:
        url = services.connect_link(
            store=request.tenant, return_url=return_url, refresh_url=refresh_url
        )
    except StripeFailure as exc:
        messages.error(request, f"Could not continue Stripe onboarding: {exc.user_message}")
        return redirect("payments_dash:stripe")
    if url is None:
        return redirect("payments_dash:stripe")
    return HttpResponseRedirect(url)


@store_owner_required
def stripe_return(request: HttpRequest) -> HttpResponse:
    """Where Stripe sends the seller back. Read only: it asks Stripe how the account is
    now and shows that; saving it is the account.updated webhook's job."""
    state = connection_state(request.tenant)
    try:
        account = services.connect_status(store=request.tenant)
    except StripeFailure as exc:
        messages.error(request, f"Could not check your Stripe account: {exc.user_message}")
        return redirect("payments_dash:stripe")
    if account is None:
        return redirect("payments_dash:stripe")
    context = _stripe_context(request, state, account)
    context["returned"] = True
    return render(request, "payments/dashboard/stripe.html", context)


# --- Sales ----------------------------------------------------------------------------------

SALES_PER_PAGE = 50


@store_owner_or_admin_view
def sales_list(request: HttpRequest) -> HttpResponse:
    from django.core.paginator import Paginator

    from catalog.models import Product

    from .sales import SalesFilter, sales_queryset

    flt = SalesFilter.from_query(request.GET)
    for problem in flt.problems:
        messages.warning(request, problem)
    paginator = Paginator(sales_queryset(flt), SALES_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))  # junk or huge numbers → a real page
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "payments/dashboard/sales.html",
        {
            "page": page,
            "filter": flt,
            "products": Product.objects.order_by("title").only("uid", "title"),
            "statuses": Purchase.Status.choices,
            # One id per rendering of the page (each row's form adds its number): a double
            # click posts the same id twice and makes one refund (payments.refunds).
            "refund_attempt": uuid.uuid4().hex,
            "refund_reasons": Refund.Reason.choices,
            "query": query.urlencode(),
            "dash_section": "sales",
        },
    )


@store_owner_or_admin_view
def sales_csv(request: HttpRequest) -> HttpResponse:
    from django.http import StreamingHttpResponse

    from .sales import SalesFilter, sales_csv_rows

    flt = SalesFilter.from_query(request.GET)
    response = StreamingHttpResponse(sales_csv_rows(flt), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sales-{request.tenant.subdomain}.csv"'
    return response


def _purchase(request: HttpRequest, uid: str) -> Purchase:
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        Purchase.objects.select_related("product").prefetch_related("grants"), uid=uid
    )


@require_POST
@store_owner_required
def sale_refund(request: HttpRequest, uid) -> HttpResponse:
    """Refund part or all of what remains of a sale, with Stripe's reason and a note."""
    from django.conf import settings
    from django.core.exceptions import ValidationError

    from .refunds import refund_request

    purchase = _purchase(request, uid)
    try:
        refund, made = refund_request(
            store=request.tenant,
            purchase=purchase,
            amount_text=request.POST.get("amount", ""),
            reason=request.POST.get("reason", ""),
            note=request.POST.get("note", ""),
            attempt=request.POST.get("attempt", ""),
            refund_application_fee=settings.PLATFORM_REFUND_APPLICATION_FEE,
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    except StripeFailure as exc:
        messages.error(request, f"Stripe did not refund this sale: {exc.user_message}")
    else:
        purchase.refresh_from_db()
        if not made:
            messages.info(request, f"This refund of {refund.amount_display} was already made.")
        elif purchase.status == Purchase.Status.REFUNDED:
            messages.success(
                request,
                f"Refunded {refund.amount_display} to {purchase.buyer_email}: the sale is "
                "refunded in full and their download link no longer works.",
            )
        else:
            messages.success(
                request,
                f"Refunded {refund.amount_display} to {purchase.buyer_email}; "
                f"{purchase.refundable_display} remains. Their download keeps working.",
            )
    return redirect("payments_dash:sales")


@require_POST
@store_owner_required
def sale_resend_receipt(request: HttpRequest, uid) -> HttpResponse:
    from .tasks import resend_receipt

    purchase = _purchase(request, uid)
    resend_receipt.delay(purchase.pk)
    messages.success(request, f"Receipt sent again to {purchase.buyer_email}.")
    return redirect("payments_dash:sales")


@require_POST
@store_owner_required
def sale_reset_downloads(request: HttpRequest, uid) -> HttpResponse:
    purchase = _purchase(request, uid)
    services.download_reset(purchase=purchase)
    messages.success(request, f"Download count reset for {purchase.buyer_email}.")
    return redirect("payments_dash:sales")
