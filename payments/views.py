"""Buyer-facing pages on a store's domain: checkout, thank-you, downloads, library."""

from __future__ import annotations

import re
import uuid

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from catalog.discounts import discount_quote
from catalog.pwyw import pwyw_context
from catalog.storage import private_storage
from config import metrics
from tenants.decorators import store_active_required
from tenants.net import client_ip

from . import services
from .models import Purchase
from .stripe_client import StripeFailure
from .tasks import send_library_link

_ATTEMPT = re.compile(r"^[0-9a-f]{32}$")
_SESSION = re.compile(r"^cs_[A-Za-z0-9_]{4,200}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


FREE_ORDERS_PER_IP = 10
FREE_ORDERS_PER_EMAIL = 3


@require_POST
@store_active_required
def checkout(request: HttpRequest, slug: str) -> HttpResponse:
    store = request.tenant
    product = services.product_for_checkout(slug=slug)
    if product is None:
        raise Http404("No such product for sale.")
    attempt = request.POST.get("attempt", "")
    if not _ATTEMPT.match(attempt):
        attempt = uuid.uuid4().hex
    code = request.POST.get("code", "").strip()[:64]
    email = request.POST.get("email", "").strip().lower()[:254]
    # Pay what you want: the amount the buyer typed (the product page may be a cached
    # copy; the amount travels in the POST, never in the page).
    amount = request.POST.get("amount", "")[:64] if product.pay_what_you_want else None
    base = f"{request.scheme}://{request.get_host()}"
    try:
        if amount is not None:
            if services.pwyw_is_free(store=store, product=product, amount=amount, code=code):
                return _free_order(
                    request, product=product, code=code, email=email, attempt=attempt, amount=amount
                )
        elif code and services.code_is_free(product=product, code=code):
            return _free_order(request, product=product, code=code, email=email, attempt=attempt)
        session = services.checkout_start(
            store=store,
            product=product,
            attempt=attempt,
            success_url=f"{base}/thanks/?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{base}{product.get_absolute_url()}?cancelled=1",
            code=code,
            email=email,
            amount=amount,
        )
    except ValidationError as exc:
        if amount is not None:
            return _pwyw_refused(request, product, exc, amount=amount, code=code, email=email)
        return _checkout_refused(request, product, exc.messages[0], code=code)
    except StripeFailure as exc:
        return render(
            request,
            "payments/checkout_error.html",
            {
                "product": product,
                "message": exc.user_message,
                "retry": exc.retryable,
                "attempt": attempt,
                "code": code,
                "email": email,
                "amount": amount,
            },
            status=503 if exc.retryable else 502,
        )
    return HttpResponseRedirect(session.url)


def _checkout_refused(request: HttpRequest, product, message: str, *, code: str = ""):
    return render(
        request,
        "payments/checkout_error.html",
        {"product": product, "message": message, "retry": False, "code": code},
        status=409,
    )


def _pwyw_refused(
    request: HttpRequest, product, exc: ValidationError, *, amount: str, code: str, email: str
):
    """The product page again, with the problem beside the field it is about and what the
    buyer typed still in it (the amount, the email, the code)."""
    fields = exc.message_dict if hasattr(exc, "error_dict") else {}
    quote, code_error = None, ""
    if code:
        try:
            quote = discount_quote(product=product, code=code)
        except ValidationError as problem:
            code_error = problem.messages[0]
    context = {
        "product": product,
        "code": code,
        "quote": quote,
        "code_error": code_error,
        "buy_error": "" if fields else exc.messages[0],
        **pwyw_context(
            product,
            quote,
            amount_value=amount,
            amount_error=" ".join(fields.get("amount", [])),
            email_value=email,
            email_error=" ".join(fields.get("email", [])),
        ),
    }
    if code_error and context["buy_error"] == code_error:
        context["buy_error"] = ""
    return render(request, "catalog/product.html", context, status=400 if fields else 409)


def _free_order(
    request: HttpRequest,
    *,
    product,
    code: str,
    email: str,
    attempt: str,
    amount: str | None = None,
):
    """A 100 % code, or 0 for a pay-what-you-want product that allows it: no Stripe.
    Rate-limited per IP and per email (a free file is still the seller's), then one
    purchase; the buyer lands on the thank-you page."""
    if _rate_limited(f"free:ip:{client_ip(request)}", FREE_ORDERS_PER_IP) or (
        email and _rate_limited(f"free:email:{email}", FREE_ORDERS_PER_EMAIL)
    ):
        return render(
            request,
            "payments/checkout_error.html",
            {"product": product, "message": "Too many free orders. Please try again in an hour."},
            status=429,
        )
    if amount is not None:
        purchase, _ = services.purchase_pwyw_free(
            store=request.tenant,
            product=product,
            amount=amount,
            email=email,
            attempt=attempt,
            code=code,
        )
    else:
        purchase, _ = services.purchase_free(
            store=request.tenant, product=product, code=code, email=email, attempt=attempt
        )
    return HttpResponseRedirect(f"/thanks/?order={purchase.uid}")


@never_cache
def thanks(request: HttpRequest) -> HttpResponse:
    store = request.tenant
    session_id = request.GET.get("session_id", "")
    order = request.GET.get("order", "")
    if order and _UUID.match(order):
        # A free order (100 % code): its random uid is the page's key, as the session id
        # is for a paid one.
        free = (
            services.purchases_with_files(Purchase.objects.select_related("code"))
            .filter(uid=order, checkout_session_id__startswith="free_")
            .first()
        )
        if free is not None:
            return render(request, "payments/thanks.html", _thanks_context(free, store=store))
    if not _SESSION.match(session_id):
        return render(request, "payments/thanks.html", {"state": "unknown"}, status=404)
    try:
        purchase = services.purchase_confirm(store=store, session_id=session_id)
    except StripeFailure:
        return render(request, "payments/thanks.html", {"state": "pending"}, status=200)
    except services.NotOurs:
        purchase = None
    if purchase is None:
        return render(request, "payments/thanks.html", {"state": "pending"})
    purchase = services.purchases_with_files(Purchase.objects.select_related("code")).get(
        pk=purchase.pk
    )
    return render(request, "payments/thanks.html", _thanks_context(purchase, store=store))


def _thanks_context(purchase: Purchase, *, store) -> dict:
    links = services.download_links(purchase, store=store)
    return {
        "state": purchase.status,
        "purchase": purchase,
        "links": links,
        "download_url": links[0].url if links else "",
    }


REFUSALS = {
    "unknown": (
        404,
        "This download link is not valid",
        "Check that you copied the whole link, or get a fresh one from “My purchases”.",
    ),
    "refunded": (
        410,
        "This purchase was refunded",
        "Refunded purchases can no longer be downloaded.",
    ),
    "disputed": (
        403,
        "This purchase is under dispute",
        "Downloads are paused while the payment is disputed.",
    ),
    "chargeback": (
        410,
        "This payment was reversed",
        "The payment went back to the card after a dispute, so the file can no longer be "
        "downloaded.",
    ),
    "revoked": (
        403,
        "Access to this purchase was withdrawn",
        "Contact the seller if you think this is a mistake.",
    ),
    "expired": (410, "This download link has expired", "Get a fresh link from “My purchases”."),
    "limit": (
        429,
        "Download limit reached",
        "You have used every download this purchase allows. Contact the seller for more.",
    ),
}


@never_cache
@store_active_required
def download(request: HttpRequest, token: str) -> HttpResponse:
    decision = services.download_open(
        token=token,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
    )
    metrics.download(outcome=decision.reason)
    if decision.reason == "preparing" and decision.grant is not None:
        return render(
            request,
            "payments/preparing.html",
            {"product": decision.grant.purchase.product},
            status=202,
        )
    if not decision.allowed:
        status, title, detail = REFUSALS.get(decision.reason, REFUSALS["unknown"])
        return render(
            request,
            "payments/download_refused.html",
            {"title": title, "detail": detail, "reason": decision.reason},
            status=status,
        )
    return private_storage().deliver(
        decision.file_name, filename=decision.filename, content_type="application/pdf"
    )


LIBRARY_LIMIT_PER_IP = 10
LIBRARY_LIMIT_PER_EMAIL = 3


def _rate_limited(key: str, limit: int, window: int = 3600) -> bool:
    cache.add(key, 0, window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window)
        count = 1
    return count > limit


@require_http_methods(["GET", "POST"])
@store_active_required
def library_request(request: HttpRequest) -> HttpResponse:
    """Ask for a magic link. Same answer whether or not the email bought here."""
    sent = False
    error = ""
    if request.method == "POST":
        email = request.POST.get("email", "").strip().lower()
        if not re.match(r"^[^@\s]{1,64}@[^@\s]{1,255}$", email):
            error = "Enter the email address you used at checkout."
        elif _rate_limited(
            f"library:ip:{client_ip(request)}", LIBRARY_LIMIT_PER_IP
        ) or _rate_limited(f"library:email:{email}", LIBRARY_LIMIT_PER_EMAIL):
            return render(
                request,
                "payments/library_request.html",
                {"error": "Too many requests. Please try again in an hour."},
                status=429,
            )
        else:
            # Queued for every address: the page does the same work, in the same time,
            # whether or not this email bought here.
            send_library_link.delay(email)
            sent = True
    return render(request, "payments/library_request.html", {"sent": sent, "error": error})


@never_cache
@store_active_required
def library(request: HttpRequest, token: str) -> HttpResponse:
    store = request.tenant
    email = services.library_open(token=token)
    if email is None:
        return render(
            request,
            "payments/library_request.html",
            {"error": "This link has expired or is not valid. Ask for a new one below."},
            status=410,
        )
    purchases = list(
        services.purchases_with_files(Purchase.objects.filter(buyer_email=email)).order_by(
            "-created_at"
        )
    )
    rows = [
        {
            "purchase": p,
            "links": services.download_links(p, store=store)
            if p.status == Purchase.Status.PAID
            else [],
        }
        for p in purchases
    ]
    return render(request, "payments/library.html", {"email": email, "rows": rows})


@csrf_exempt  # the signed token is the authority; mail clients POST here (RFC 8058)
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """No more "a new version" emails for this address from this store: no login; the
    link's signed token names the store's schema, so it works on its own store only.
    GET asks (link scanners must not unsubscribe anyone); POST does it."""
    email = services.optout_email(token=token, schema=request.tenant.schema_name)
    if email is None:
        return render(request, "payments/unsubscribe.html", {"state": "invalid"}, status=404)
    state = "ask"
    if request.method == "POST":
        services.optout_record(email=email)
        state = "done"
    return render(request, "payments/unsubscribe.html", {"state": state, "email": email})
