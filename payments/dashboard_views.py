"""Seller pages for payments: Stripe connection. (Sales pages: sellers/console issue.)"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from payments.platform.services import connected_account_for
from tenants.decorators import store_owner_required

from . import services
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
            store=request.tenant, email=request.user.email, return_url=return_url, refresh_url=refresh_url
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
        messages.warning(request, "Stripe still needs some information before you can take payments.")
    return redirect("payments_dash:stripe")
