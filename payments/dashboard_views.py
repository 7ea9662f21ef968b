"""Seller pages for payments: Stripe connection. (Sales pages: sellers/console issue.)"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from config import metrics
from payments.platform.services import connected_account_for
from tenants.decorators import store_owner_required

from . import services
from .models import Purchase
from .stripe_client import StripeFailure


def _urls(request: HttpRequest) -> tuple[str, str]:
    base = f"{request.scheme}://{request.get_host()}/dashboard/stripe"
    return f"{base}/return/", f"{base}/refresh/"


def connection_state(store) -> dict:
    account = connected_account_for(store)
    if account is None:
        return {"state": "not_connected", "account": None}
    return {"state": account.state, "account": account}


@store_owner_required
def stripe_status(request: HttpRequest) -> HttpResponse:
    context = connection_state(request.tenant)
    context["dash_section"] = "stripe"
    return render(request, "payments/dashboard/stripe.html", context)


def _go_to_stripe(request: HttpRequest) -> HttpResponse:
    return_url, refresh_url = _urls(request)
    try:
        url = services.connect_start(
            store=request.tenant,
            email=request.user.email,
            return_url=return_url,
            refresh_url=refresh_url,
        )
    except StripeFailure as exc:
        messages.error(request, f"Could not start Stripe onboarding: {exc.user_message}")
        return redirect("payments_dash:stripe")
    return HttpResponseRedirect(url)


@require_POST
@store_owner_required
def stripe_connect(request: HttpRequest) -> HttpResponse:
    if request.impersonating:
        return redirect("payments_dash:stripe")
    return _go_to_stripe(request)


@store_owner_required
def stripe_refresh(request: HttpRequest) -> HttpResponse:
    """Account Links are single-use and expire: Stripe sends the seller here for a new one."""
    if request.impersonating:
        return redirect("payments_dash:stripe")
    return _go_to_stripe(request)


@store_owner_required
def stripe_return(request: HttpRequest) -> HttpResponse:
    try:
        account = services.connect_refresh(store=request.tenant)
    except StripeFailure as exc:
        messages.error(request, f"Could not check your Stripe account: {exc.user_message}")
        return redirect("payments_dash:stripe")
    if account is not None and account.charges_enabled:
        messages.success(request, "Stripe is connected. Your store can take payments.")
    elif account is not None:
        messages.warning(
            request, "Stripe still needs some information before you can take payments."
        )
    return redirect("payments_dash:stripe")


# --- Sales ----------------------------------------------------------------------------------

SALES_PER_PAGE = 50


@store_owner_required
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
            "query": query.urlencode(),
            "dash_section": "sales",
        },
    )


@store_owner_required
def sales_csv(request: HttpRequest) -> HttpResponse:
    from django.http import StreamingHttpResponse

    from .sales import SalesFilter, sales_csv_rows

    flt = SalesFilter.from_query(request.GET)
    response = StreamingHttpResponse(sales_csv_rows(flt), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sales-{request.tenant.subdomain}.csv"'
    return response


def _purchase(request: HttpRequest, uid: str) -> Purchase:
    from django.shortcuts import get_object_or_404

    return get_object_or_404(Purchase.objects.select_related("product", "grant"), uid=uid)


@require_POST
@store_owner_required
def sale_refund(request: HttpRequest, uid) -> HttpResponse:
    from django.conf import settings
    from django.core.exceptions import ValidationError

    if request.impersonating:
        return redirect("payments_dash:sales")
    purchase = _purchase(request, uid)
    try:
        services.purchase_refund(
            store=request.tenant,
            purchase=purchase,
            refund_application_fee=settings.PLATFORM_REFUND_APPLICATION_FEE,
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    except StripeFailure as exc:
        metrics.refund(outcome="failed")
        messages.error(request, f"Stripe did not refund this sale: {exc.user_message}")
    else:
        messages.success(
            request,
            f"Refunded {purchase.amount_display} to {purchase.buyer_email}. Their download link no longer works.",
        )
    return redirect("payments_dash:sales")


@require_POST
@store_owner_required
def sale_resend_receipt(request: HttpRequest, uid) -> HttpResponse:
    from .tasks import resend_receipt

    if request.impersonating:
        return redirect("payments_dash:sales")
    purchase = _purchase(request, uid)
    resend_receipt.delay(purchase.pk)
    messages.success(request, f"Receipt sent again to {purchase.buyer_email}.")
    return redirect("payments_dash:sales")


@require_POST
@store_owner_required
def sale_reset_downloads(request: HttpRequest, uid) -> HttpResponse:
    if request.impersonating:
        return redirect("payments_dash:sales")
    purchase = _purchase(request, uid)
    services.download_reset(purchase=purchase)
    messages.success(request, f"Download count reset for {purchase.buyer_email}.")
    return redirect("payments_dash:sales")
