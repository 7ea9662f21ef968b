"""The one module that talks to Stripe.

Everything goes through the real `stripe` library, through ONE `StripeClient` per
process (a pool of open HTTP connections, so TLS connections are reused), pinned to
`STRIPE_API_VERSION`. The API base comes from settings (`STRIPE_API_BASE`), so tests and
local development reach the stand-in server (in devtools/, outside the product) over real HTTP.

Every request's parameters are built as the TypedDicts stripe ships (`stripe.params.*`);
`mypy payments/` (a `make test` gate) fails on a misspelled or removed parameter. Every
POST carries an idempotency key; calls for a store's account carry `stripe_account`.
Stripe's errors become `StripeFailure`, whose `user_message` is safe to show.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

import requests
import stripe
import urllib3
from django.conf import settings
from stripe.params import (
    AccountCreateParams,
    AccountLinkCreateParams,
    ChargeRetrieveParams,
    PayoutListParams,
    RefundCreateParams,
    RefundListParams,
)
from stripe.params.checkout import (
    SessionCreateParams,
    SessionCreateParamsLineItemPriceData,
    SessionCreateParamsLineItemPriceDataProductData,
    SessionListParams,
    SessionRetrieveParams,
)

# The API version every request asks for. It is the one stripe-python 16.1.0 pins (its
# `_ApiVersion.CURRENT`); the SDK's default moves with each release, ours moves only when
# this line does (tests/payments/test_stripe_client.py checks they agree, and
# deploy/README.md says which version the webhook endpoints must be created with).
STRIPE_API_VERSION = "2026-10-28.endive"

logger = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


class StripeFailure(Exception):
    """A Stripe call failed; `user_message` is for people, `retryable` for code."""

    def __init__(self, user_message: str, *, retryable: bool, code: str = "", detail: str = ""):
        super().__init__(detail or user_message)
        self.user_message = user_message
        self.retryable = retryable
        self.code = code


class AccessRevoked(StripeFailure):
    """Stripe answered 403 for a connected account: it no longer lets the platform in.

    That is what Stripe says once a seller removed the platform in their Dashboard (the
    `account.application.deauthorized` event may come later, or not reach us at all).
    Handlers registered with `on_access_revoked` mark the store disconnected.
    """

    def __init__(self, *, account_id: str, detail: str = ""):
        super().__init__(
            "This store's Stripe account no longer gives the platform access (it was "
            "disconnected in Stripe). The store owner needs to reconnect Stripe.",
            retryable=False,
            code="access_revoked",
            detail=detail,
        )
        self.account_id = account_id


_access_revoked_handlers: list[Callable[[str], None]] = []


def on_access_revoked(handler: Callable[[str], None]) -> None:
    """Call `handler(account_id)` whenever Stripe says our access to an account is gone."""
    if handler not in _access_revoked_handlers:
        _access_revoked_handlers.append(handler)


@dataclass(frozen=True)
class Account:
    id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    requirements_due: list[str] = field(default_factory=list)
    disabled_reason: str = ""
    country: str = ""
    default_currency: str = ""
    requirements_deadline: int | None = None  # requirements.current_deadline (unix time)
    # Who runs the account. New accounts are created with controller properties; older
    # ones with `type=standard` (Stripe reports controller.type "account" for those).
    dashboard: str = ""  # full / express / none

    @classmethod
    def from_stripe(cls, obj: Any) -> Account:
        data = obj if isinstance(obj, dict) else obj.to_dict()
        req = data.get("requirements") or {}
        due = sorted(set((req.get("currently_due") or []) + (req.get("past_due") or [])))
        controller = data.get("controller") or {}
        dashboard = (controller.get("stripe_dashboard") or {}).get("type") or ""
        if not dashboard and data.get("type") in ("standard", "express"):
            dashboard = "full" if data["type"] == "standard" else "express"
        deadline = req.get("current_deadline")
        return cls(
            id=data["id"],
            charges_enabled=bool(data.get("charges_enabled")),
            payouts_enabled=bool(data.get("payouts_enabled")),
            details_submitted=bool(data.get("details_submitted")),
            requirements_due=due,
            disabled_reason=req.get("disabled_reason") or "",
            country=(data.get("country") or "").upper(),
            default_currency=(data.get("default_currency") or "").lower(),
            requirements_deadline=int(deadline) if deadline else None,
            dashboard=dashboard,
        )


@dataclass(frozen=True)
class ChargeFees:
    """What a charge left in the seller's balance: its balance transaction, read on the
    connected account (a direct charge's fees are the seller's). In `currency` (the
    account's settlement currency, which can differ from the charge's); `fee` is Stripe's
    processing fee plus the application fee, `net` = `amount` - `fee` (STRIPE-FACTS 10.2)."""

    balance_transaction_id: str
    currency: str
    amount: int
    fee: int
    stripe_fee: int
    net: int

    @classmethod
    def from_stripe(cls, obj: Any) -> ChargeFees | None:
        """From an expanded balance transaction; None for an id or null (not settled yet)."""
        if not isinstance(obj, dict):
            return None
        details = obj.get("fee_details") or []
        return cls(
            balance_transaction_id=str(obj.get("id") or ""),
            currency=str(obj.get("currency") or "").lower(),
            amount=int(obj.get("amount") or 0),
            fee=int(obj.get("fee") or 0),
            stripe_fee=sum(
                int(d.get("amount") or 0) for d in details if d.get("type") == "stripe_fee"
            ),
            net=int(obj.get("net") or 0),
        )


@dataclass(frozen=True)
class Money:
    amount: int
    currency: str


@dataclass(frozen=True)
class Balance:
    available: list[Money]
    pending: list[Money]

    @classmethod
    def from_stripe(cls, obj: Any) -> Balance:
        data = obj if isinstance(obj, dict) else obj.to_dict()

        def rows(key: str) -> list[Money]:
            return [
                Money(int(r.get("amount") or 0), str(r.get("currency") or "").lower())
                for r in data.get(key) or []
            ]

        return cls(available=rows("available"), pending=rows("pending"))


@dataclass(frozen=True)
class Payout:
    id: str
    amount: int
    currency: str
    status: str  # paid / pending / in_transit / canceled / failed
    arrival_date: int
    automatic: bool

    @classmethod
    def from_stripe(cls, obj: Any) -> Payout:
        data = obj if isinstance(obj, dict) else obj.to_dict()
        return cls(
            id=str(data["id"]),
            amount=int(data.get("amount") or 0),
            currency=str(data.get("currency") or "").lower(),
            status=str(data.get("status") or ""),
            arrival_date=int(data.get("arrival_date") or 0),
            automatic=bool(data.get("automatic")),
        )


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    status: str  # open / complete / expired
    payment_status: str  # paid / unpaid / no_payment_required
    amount_total: int
    currency: str
    customer_email: str
    payment_intent_id: str
    metadata: dict[str, str]
    application_fee_amount: int | None = None
    charge_id: str = ""
    expires_at: int | None = None
    # From the charge's `payment_method_details.card` when `latest_charge` was expanded.
    card_brand: str = ""
    card_last4: str = ""
    # Stripe Tax: `total_details.amount_tax`, `automatic_tax.enabled`; the rate (percent,
    # summed over the breakdown's jurisdictions) and its name from the expanded
    # `total_details.breakdown.taxes[].rate`; the country from `customer_details.address`.
    amount_tax: int = 0
    automatic_tax: bool = False
    tax_rate: Decimal | None = None
    tax_label: str = ""
    tax_country: str = ""

    @property
    def tax_calculated(self) -> bool:
        return self.automatic_tax or self.amount_tax > 0

    # From the charge's balance transaction when that was expanded and Stripe has it yet.
    charge_fees: ChargeFees | None = None

    @classmethod
    def from_stripe(cls, obj: Any) -> CheckoutSession:
        data = obj if isinstance(obj, dict) else obj.to_dict()
        pi = data.get("payment_intent") or ""
        charge_id: str = ""
        fee: int | None = None
        card: dict[str, Any] = {}
        fees: ChargeFees | None = None
        if isinstance(pi, dict):
            charge = pi.get("latest_charge") or ""
            charge_id = charge.get("id", "") if isinstance(charge, dict) else charge
            if isinstance(charge, dict):
                card = (charge.get("payment_method_details") or {}).get("card") or {}
                fees = ChargeFees.from_stripe(charge.get("balance_transaction"))
            fee = pi.get("application_fee_amount")
            pi = pi.get("id", "")
        details = data.get("customer_details") or {}
        totals = data.get("total_details") or {}
        taxes = (totals.get("breakdown") or {}).get("taxes") or []
        rates = [t.get("rate") or {} for t in taxes if isinstance(t, dict)]
        rate: Decimal | None = None
        if rates:
            # The rate applied: effective_percentage (0 where the product is not taxed),
            # else the statutory percentage.
            rate = sum(
                (
                    Decimal(str(r["effective_percentage"]))
                    if r.get("effective_percentage") is not None
                    else Decimal(str(r.get("percentage") or 0))
                    for r in rates
                ),
                Decimal(0),
            )
        address = details.get("address") or {}
        country = address.get("country") or next(
            (r.get("country") for r in rates if r.get("country")), ""
        )
        return cls(
            id=data["id"],
            url=data.get("url") or "",
            status=data.get("status") or "",
            payment_status=data.get("payment_status") or "",
            amount_total=int(data.get("amount_total") or 0),
            currency=(data.get("currency") or "").lower(),
            customer_email=(details.get("email") or data.get("customer_email") or "").lower(),
            payment_intent_id=pi,
            metadata=dict(data.get("metadata") or {}),
            application_fee_amount=fee,
            charge_id=charge_id,
            expires_at=data.get("expires_at"),
            card_brand=str(card.get("brand") or "")[:20],
            card_last4=str(card.get("last4") or "")[:4],
            amount_tax=int(totals.get("amount_tax") or 0),
            automatic_tax=bool((data.get("automatic_tax") or {}).get("enabled")),
            tax_rate=rate,
            tax_label=str(
                next((r.get("display_name") for r in rates if r.get("display_name")), "")
            )[:40],
            tax_country=str(country or "").upper()[:2],
            charge_fees=fees,
        )

    @property
    def is_paid(self) -> bool:
        return self.status == "complete" and self.payment_status in ("paid", "no_payment_required")


@dataclass(frozen=True)
class Refund:
    id: str
    status: str
    amount: int


class _Urllib3Client(stripe.HTTPClient):
    """stripe's HTTP layer on urllib3 directly (stripe.HTTPClient is the base it offers for
    custom clients): the same requests, headers and errors as stripe's RequestsClient,
    without requests' per-call session machinery (preparing the request, merging
    settings, hooks, cookies, adapters), which was a third of a checkout's Stripe call.

    One urllib3 pool manager per process (thread-safe): each pool keeps up to
    `POOL_CONNECTIONS` open connections per host, so every worker thread reuses its TLS
    connection to Stripe (bench/stripe_client_reuse.py counts them). Certificates are
    checked against stripe's own CA bundle, as RequestsClient does. The proxy the
    environment names for the API host is read once (`_env_proxy`), as before: requests
    re-read the environment on every call. Redirects are not followed, retries are
    stripe's (`max_network_retries`); timeouts apply to connecting and to each read, as
    requests' `timeout` does.
    """

    name = "urllib3"
    POOL_CONNECTIONS = 16  # gunicorn's threads per worker (deploy/gunicorn.conf.py), with room

    def __init__(self, *, timeout: float, proxy: str | None) -> None:
        super().__init__(proxy=proxy)
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        pool: dict[str, Any] = {
            "maxsize": self.POOL_CONNECTIONS,
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": stripe.ca_bundle_path,
            "retries": False,
        }
        self._pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, **pool) if proxy else urllib3.PoolManager(**pool)
        )

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[bytes, int, Mapping[str, str]]:
        # Bytes, as stripe's own RequestsClient returns (the base class says str): stripe
        # decodes them, and answers an undecodable body with its APIError.
        response = self._send(method, url, headers, post_data, stream=False)
        return response.data, response.status, response.headers

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        response = self._send(method, url, headers, post_data, stream=True)
        return response, response.status, response.headers

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any,
        *,
        stream: bool,
    ) -> urllib3.BaseHTTPResponse:
        body = post_data.encode() if isinstance(post_data, str) else post_data
        try:
            return self._pool.request(
                method.upper(),
                url,
                body=body,
                headers=dict(headers or {}),
                timeout=self._timeout,
                redirect=False,
                preload_content=not stream,
            )
        except urllib3.exceptions.SSLError as exc:
            # As stripe's own clients: a certificate problem is not retried.
            raise stripe.APIConnectionError(
                "Could not verify Stripe's SSL certificate. Please make sure that your "
                f"network is not intercepting certificates. (Network error: {exc})",
                should_retry=False,
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # Timeouts, refused or reset connections: retryable, as with RequestsClient.
            raise stripe.APIConnectionError(
                "Unexpected error communicating with Stripe. If this problem persists, "
                f"let us know at support@stripe.com. (Network error: {type(exc).__name__}: {exc})",
                should_retry=True,
            ) from exc

    def close(self) -> None:
        self._pool.clear()


def _env_proxy(base: str) -> str | None:
    """The proxy the environment names for Stripe's API (HTTPS_PROXY, NO_PROXY...), as
    requests would choose it on each call; None for a direct connection."""
    url = base or stripe.DEFAULT_API_BASE
    return requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url)) or None


_client_lock = threading.Lock()
_client_cache: tuple[tuple[str, str, float, int], stripe.StripeClient] | None = None


def _client() -> stripe.StripeClient:
    """The process's Stripe client, built once per configuration (tests switch settings).

    `_Urllib3Client` keeps a pool of open connections per host, so each worker thread
    reuses a TLS connection to Stripe instead of handshaking on every call. The process id is
    part of the key: a forked worker (gunicorn, Celery prefork) never shares its parent's
    open connections.
    """
    global _client_cache
    config = (
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE or "",
        settings.STRIPE_TIMEOUT,
        os.getpid(),
    )
    cached = _client_cache
    if cached is not None and cached[0] == config:
        return cached[1]
    with _client_lock:
        if _client_cache is not None and _client_cache[0] == config:
            return _client_cache[1]
        key, base, timeout, _ = config
        client = stripe.StripeClient(
            key,
            stripe_version=STRIPE_API_VERSION,
            base_addresses={"api": base, "connect": base, "files": base} if base else {},
            max_network_retries=0,  # callers decide: retries happen in tasks, not in requests
            http_client=_Urllib3Client(timeout=timeout, proxy=_env_proxy(base)),
        )
        _client_cache = (config, client)
        return client


def key_is_live() -> bool:
    """Whether our secret key is a live-mode key; events of the other mode are not ours."""
    return settings.STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))


def idempotency_key(*parts: Any) -> str:
    """A key derived from what the request means, so a retried click reuses it."""
    raw = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:48]


def _failure(exc: stripe.StripeError, *, account_id: str = "") -> StripeFailure:
    code = getattr(exc, "code", "") or ""
    detail = str(exc)
    if isinstance(exc, stripe.IdempotencyError):
        # Stripe keeps the first request's answer for this key for 24 h and refuses any
        # different request under it: retrying the same thing cannot help.
        return StripeFailure(
            "Stripe refused this because an earlier attempt with different details is "
            "still on record. Reload the page and try again.",
            retryable=False,
            code=code or "idempotency_error",
            detail=detail,
        )
    if isinstance(exc, stripe.PermissionError):
        if account_id:
            return AccessRevoked(account_id=account_id, detail=detail)
        return StripeFailure(
            "The platform's Stripe key is not allowed to do this; we have been told.",
            retryable=False,
            code=code,
            detail=detail,
        )
    if isinstance(exc, stripe.CardError):
        return StripeFailure(
            exc.user_message or "The card was declined.", retryable=False, code=code, detail=detail
        )
    if isinstance(exc, stripe.RateLimitError):
        return StripeFailure(
            "Stripe is busy right now. Please try again in a moment.",
            retryable=True,
            code=code,
            detail=detail,
        )
    if isinstance(exc, stripe.APIConnectionError):
        return StripeFailure(
            "We could not reach Stripe. Please try again in a moment.",
            retryable=True,
            code=code,
            detail=detail,
        )
    if isinstance(exc, stripe.AuthenticationError):
        return StripeFailure(
            "Payments are misconfigured on this platform; we have been told.",
            retryable=False,
            code=code,
            detail=detail,
        )
    if isinstance(exc, stripe.InvalidRequestError):
        return StripeFailure(
            exc.user_message or "Stripe refused the request.",
            retryable=False,
            code=code,
            detail=detail,
        )
    status = getattr(exc, "http_status", None) or 500
    return StripeFailure(
        "Stripe had a problem. Please try again in a moment.",
        retryable=status >= 500 or status == 409,
        code=code,
        detail=detail,
    )


def _call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """A platform-level call (no connected account involved)."""
    try:
        return fn(*args, **kwargs)
    except stripe.StripeError as exc:
        raise _failure(exc) from exc


def _call_on(account_id: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """A call about one connected account: a 403 means our access to it is gone."""
    try:
        return fn(*args, **kwargs)
    except stripe.StripeError as exc:
        failure = _failure(exc, account_id=account_id)
        if isinstance(failure, AccessRevoked):
            for handler in list(_access_revoked_handlers):
                try:
                    handler(account_id)
                except Exception:  # the seller still gets the true message
                    logger.exception("Marking %s disconnected failed", account_id)
        raise failure from exc


# --- Connect ------------------------------------------------------------------------------


def account_create(
    *,
    store_key: str,
    email: str,
    country: str,
    business_name: str,
    business_url: str,
    attempt: str = "",
) -> Account:
    """A connected account the seller runs, as Stripe recommends for direct charges.

    Controller properties instead of the legacy `type=standard` (STRIPE-FACTS 1.3): the
    seller's own full Dashboard, the seller pays Stripe's fees, Stripe carries negative
    balances and collects requirements. Country and fee payer can't change later. The
    idempotency key is a function of the store, `attempt` (which account of the store this
    is) and every parameter, so repeated clicks get the same account back from Stripe.
    """
    params: AccountCreateParams = {
        "controller": {
            "stripe_dashboard": {"type": "full"},
            "fees": {"payer": "account"},
            "losses": {"payments": "stripe"},
            "requirement_collection": "stripe",
        },
        "country": country,
        "email": email,
        "business_profile": {"name": business_name, "url": business_url},
        "metadata": {"store": store_key},
    }
    obj = _call(
        _client().v1.accounts.create,
        params=params,
        options={"idempotency_key": idempotency_key("account_create", store_key, attempt, params)},
    )
    return Account.from_stripe(obj)


def account_retrieve(account_id: str) -> Account:
    return Account.from_stripe(_call_on(account_id, _client().v1.accounts.retrieve, account_id))


def account_link_create(*, account_id: str, return_url: str, refresh_url: str, nonce: str) -> str:
    params: AccountLinkCreateParams = {
        "account": account_id,
        "type": "account_onboarding",
        "return_url": return_url,
        "refresh_url": refresh_url,
    }
    obj = _call_on(
        account_id,
        _client().v1.account_links.create,
        params=params,
        options={"idempotency_key": idempotency_key("account_link", account_id, nonce)},
    )
    return obj.to_dict()["url"]


# --- Checkout -----------------------------------------------------------------------------


def checkout_session_create(
    *,
    account_id: str,
    attempt: str,
    product_name: str,
    product_description: str,
    unit_amount: int,
    currency: str,
    application_fee_amount: int,
    success_url: str,
    cancel_url: str,
    metadata: dict[str, str],
    expires_at: int | None = None,
    customer_email: str = "",
    automatic_tax: bool = False,
) -> CheckoutSession:
    product_data: SessionCreateParamsLineItemPriceDataProductData = {"name": product_name}
    if product_description:
        product_data["description"] = product_description[:500]
    price_data: SessionCreateParamsLineItemPriceData = {
        "currency": currency,
        "unit_amount": unit_amount,
        "product_data": product_data,
    }
    params: SessionCreateParams = {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": price_data}],
        "payment_intent_data": {
            "application_fee_amount": application_fee_amount,
            "metadata": metadata,
        },
        "metadata": metadata,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if expires_at:
        params["expires_at"] = expires_at
    if customer_email:
        # Prefilled and not editable on Stripe's page: a one-use-per-email code's buyer.
        params["customer_email"] = customer_email
    if automatic_tax:
        tax_session_params(params, price_data, product_data)
    # The key covers every parameter, not just what the sale means: a retried click with
    # the same attempt gets the same session, and a changed title, description, URL or
    # fee (a renamed product, another host) makes a new one instead of Stripe's
    # "same parameters" error.
    key = idempotency_key("checkout", account_id, attempt, params)
    # stripe's raw_request: the same request path (headers, idempotency key, API version,
    # errors raised as stripe's exceptions), answered as the plain JSON dict, without
    # building the StripeObject tree that from_stripe would only turn back into a dict
    # (a fifth of the call's CPU). The parameters stay typed (SessionCreateParams).
    response = _call_on(
        account_id,
        _client().raw_request,
        "post",
        "/v1/checkout/sessions",
        **params,
        stripe_account=account_id,
        idempotency_key=key,
    )
    return CheckoutSession.from_stripe(response.data)


# Stripe Tax on a direct charge (STRIPE-FACTS 9): the connected account is liable, with its
# own registrations, so no `liability` is sent (it defaults to the account itself).
# - Tax code "Digital Books - downloaded - permanent rights" (txcd_10302000): PDFs sold
#   outright; several jurisdictions tax e-books at a reduced rate or not at all, which the
#   general electronic-services code (txcd_10000000) would miss.
# - tax_behavior "exclusive": the seller's price is before tax and the tax is added on top,
#   so the platform fee, fixed when the session is created, is on the pre-tax price (an
#   inclusive price would hide a pre-tax amount that depends on the buyer's country).
# - billing_address_collection "auto": Checkout collects exactly the address data the tax
#   calculation needs (the country, plus postal code or more where it matters).
EBOOK_TAX_CODE = "txcd_10302000"


def tax_session_params(
    params: SessionCreateParams,
    price_data: SessionCreateParamsLineItemPriceData,
    product_data: SessionCreateParamsLineItemPriceDataProductData,
) -> None:
    params["automatic_tax"] = {"enabled": True}
    params["billing_address_collection"] = "auto"
    price_data["tax_behavior"] = "exclusive"
    product_data["tax_code"] = EBOOK_TAX_CODE


# What a fulfilment reads: the charge (its card goes on the receipt) and the tax breakdown
# (its rate); webhook payloads carry neither (STRIPE-FACTS 2.10; `breakdown` is included
# only when expanded).
# Its balance transaction too (when Stripe has made it): what Stripe's fee left the seller.
_SESSION_EXPAND = [
    "payment_intent.latest_charge.balance_transaction",
    "total_details.breakdown",
]


def checkout_session_retrieve(*, account_id: str, session_id: str) -> CheckoutSession:
    params: SessionRetrieveParams = {"expand": list(_SESSION_EXPAND)}
    obj = _call_on(
        account_id,
        _client().v1.checkout.sessions.retrieve,
        session_id,
        params=params,
        options={"stripe_account": account_id},
    )
    return CheckoutSession.from_stripe(obj)


def checkout_session_expire(*, account_id: str, session_id: str) -> CheckoutSession:
    """Close an open session so it can no longer be paid (Stripe refuses unless open)."""
    obj = _call_on(
        account_id,
        _client().v1.checkout.sessions.expire,
        session_id,
        options={
            "stripe_account": account_id,
            "idempotency_key": idempotency_key("checkout_expire", account_id, session_id),
        },
    )
    return CheckoutSession.from_stripe(obj)


def checkout_sessions_completed_since(*, account_id: str, since: int) -> list[CheckoutSession]:
    """Every completed session since a time, all pages."""
    sessions: list[CheckoutSession] = []
    starting_after = None
    while True:
        params: SessionListParams = {
            "status": "complete",
            "created": {"gte": since},
            "limit": 100,
            "expand": [f"data.{path}" for path in _SESSION_EXPAND],
        }
        if starting_after:
            params["starting_after"] = starting_after
        page = _call_on(
            account_id,
            _client().v1.checkout.sessions.list,
            params=params,
            options={"stripe_account": account_id},
        )
        listing = page.to_dict()
        data = listing["data"]
        sessions.extend(CheckoutSession.from_stripe(s) for s in data)
        if not listing.get("has_more") or not data:
            return sessions
        starting_after = data[-1]["id"]


def refund_create(
    *, account_id: str, payment_intent_id: str, refund_application_fee: bool, reason: str
) -> Refund:
    params: RefundCreateParams = {
        "payment_intent": payment_intent_id,
        "refund_application_fee": refund_application_fee,
        "reason": "requested_by_customer",
        "metadata": {"note": reason[:200]},
    }
    obj = _call_on(
        account_id,
        _client().v1.refunds.create,
        params=params,
        options={
            "stripe_account": account_id,
            "idempotency_key": idempotency_key("refund", account_id, payment_intent_id),
        },
    )
    data = obj.to_dict()
    return Refund(
        id=data["id"], status=data.get("status") or "", amount=int(data.get("amount") or 0)
    )


# --- Refunds (partial, with a reason) ------------------------------------------------------


@dataclass(frozen=True)
class RefundInfo:
    """A Refund as Stripe has it (`status`: pending, requires_action, succeeded, failed,
    canceled; STRIPE-FACTS 7.4)."""

    id: str
    status: str
    amount: int
    currency: str
    charge_id: str
    payment_intent_id: str
    reason: str  # duplicate / fraudulent / requested_by_customer, or "" (none given)
    metadata: dict[str, str]
    failure_reason: str = ""
    created: int = 0

    @classmethod
    def from_stripe(cls, obj: Any) -> RefundInfo:
        data = obj if isinstance(obj, dict) else obj.to_dict()
        charge = data.get("charge") or ""
        pi = data.get("payment_intent") or ""
        return cls(
            id=data["id"],
            status=data.get("status") or "",
            amount=int(data.get("amount") or 0),
            currency=(data.get("currency") or "").lower(),
            charge_id=charge.get("id", "") if isinstance(charge, dict) else charge,
            payment_intent_id=pi.get("id", "") if isinstance(pi, dict) else pi,
            reason=data.get("reason") or "",
            metadata=dict(data.get("metadata") or {}),
            failure_reason=data.get("failure_reason") or "",
            created=int(data.get("created") or 0),
        )


@dataclass(frozen=True)
class ChargeRefunds:
    """What a charge says of its refunds: `amount_refunded` leaves out failed refunds;
    `refunded` is true only once the whole amount is back (STRIPE-FACTS 7.6)."""

    amount: int
    amount_refunded: int
    refunded: bool
    application_fee_id: str


def refund_partial_create(
    *,
    account_id: str,
    payment_intent_id: str,
    amount: int,
    reason: str,
    refund_application_fee: bool,
    metadata: dict[str, str],
    key: str,
) -> RefundInfo:
    """A refund of `amount` (minor units) on the store's account, with Stripe's reason.

    `key` names this one refund (our Refund row): a double click, or a retry after a
    timeout, sends the same key and gets the same refund back from Stripe.
    """
    params: RefundCreateParams = {
        "payment_intent": payment_intent_id,
        "amount": amount,
        "refund_application_fee": refund_application_fee,
        "metadata": metadata,
    }
    if reason:
        params["reason"] = reason  # checked by the caller (payments.refunds.REASONS)
    obj = _call_on(
        account_id,
        _client().v1.refunds.create,
        params=params,
        options={
            "stripe_account": account_id,
            "idempotency_key": idempotency_key("refund_partial", account_id, key, params),
        },
    )
    return RefundInfo.from_stripe(obj)


def refunds_for_payment_intent(*, account_id: str, payment_intent_id: str) -> list[RefundInfo]:
    """Every refund of a payment, all pages, as Stripe has them now."""
    refunds: list[RefundInfo] = []
    starting_after = ""
    while True:
        params: RefundListParams = {"payment_intent": payment_intent_id, "limit": 100}
        if starting_after:
            params["starting_after"] = starting_after
        page = _call_on(
            account_id,
            _client().v1.refunds.list,
            params=params,
            options={"stripe_account": account_id},
        ).to_dict()
        data = page["data"]
        refunds.extend(RefundInfo.from_stripe(r) for r in data)
        if not page.get("has_more") or not data:
            return refunds
        starting_after = data[-1]["id"]


def charge_refunds(*, account_id: str, charge_id: str) -> ChargeRefunds:
    obj = _call_on(
        account_id,
        _client().v1.charges.retrieve,
        charge_id,
        options={"stripe_account": account_id},
    ).to_dict()
    fee = obj.get("application_fee") or ""
    return ChargeRefunds(
        amount=int(obj.get("amount") or 0),
        amount_refunded=int(obj.get("amount_refunded") or 0),
        refunded=bool(obj.get("refunded")),
        application_fee_id=fee.get("id", "") if isinstance(fee, dict) else fee,
    )


def application_fee_refunded(fee_id: str) -> int:
    """How much of an application fee Stripe has given back so far (all its refunds).

    The Application Fee is the platform's object: asked with the platform key alone, no
    Stripe-Account header.
    """
    obj = _call(_client().v1.application_fees.retrieve, fee_id).to_dict()
    return int(obj.get("amount_refunded") or 0)


# --- The seller's money --------------------------------------------------------------------


def charge_fees(*, account_id: str, charge_id: str) -> ChargeFees | None:
    """The charge's balance transaction (fee, net) on the seller's account; None while
    Stripe has not made it yet (some payment methods settle after the session completes)."""
    params: ChargeRetrieveParams = {"expand": ["balance_transaction"]}
    obj = _call_on(
        account_id,
        _client().v1.charges.retrieve,
        charge_id,
        params=params,
        options={"stripe_account": account_id},
    )
    return ChargeFees.from_stripe(obj.to_dict().get("balance_transaction"))


def balance_retrieve(*, account_id: str) -> Balance:
    obj = _call_on(
        account_id, _client().v1.balance.retrieve, options={"stripe_account": account_id}
    )
    return Balance.from_stripe(obj)


def payouts_list(*, account_id: str, limit: int = 5) -> list[Payout]:
    """The account's latest payouts, newest first."""
    params: PayoutListParams = {"limit": limit}
    page = _call_on(
        account_id,
        _client().v1.payouts.list,
        params=params,
        options={"stripe_account": account_id},
    )
    return [Payout.from_stripe(p) for p in page.to_dict()["data"]]


# --- Webhooks -----------------------------------------------------------------------------


def dispute_status(*, account_id: str, dispute_id: str) -> str:
    """A dispute's status now (events about it can arrive in any order)."""
    obj = _call_on(
        account_id,
        _client().v1.disputes.retrieve,
        dispute_id,
        options={"stripe_account": account_id},
    )
    return str(obj.to_dict().get("status") or "")


def webhook_verify(*, payload: bytes, signature: str, secret: str) -> dict[str, Any]:
    """Verify Stripe's signature (HMAC-SHA256, 300 s tolerance) and parse the event.

    Raises ValueError for anything that is not a genuine, fresh event.
    """
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, secret, tolerance=settings.STRIPE_WEBHOOK_TOLERANCE
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise ValueError("Not an event.")
    return event


def checkout_sessions_for_payment_intent(
    *, account_id: str, payment_intent_id: str
) -> list[CheckoutSession]:
    params: SessionListParams = {
        "payment_intent": payment_intent_id,
        "limit": 10,
        "expand": [f"data.{path}" for path in _SESSION_EXPAND],
    }
    page = _call_on(
        account_id,
        _client().v1.checkout.sessions.list,
        params=params,
        options={"stripe_account": account_id},
    )
    return [CheckoutSession.from_stripe(s) for s in page.to_dict()["data"]]
