"""What happens to money and accounts: the stand-in's business rules.

Every function here runs with `store.lock` held by the caller, mutates plain dicts, and
records events through `store.emit` into the request's `Effects`. Validation errors are
raised as `StripeError` with Stripe's messages and codes.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from . import ledger, tax
from .money import (
    COUNTRY_CURRENCY,
    MINIMUM_AMOUNTS,
    card_for,
    convert,
    default_currency,
    format_amount,
    luhn_ok,
)
from .params import (
    StripeError,
    as_bool,
    as_email,
    as_hash,
    as_int,
    as_list,
    as_str,
    as_url,
    check_known,
    metadata,
    missing,
    no_such,
)
from .store import Effects, Settings, Store, new_id, now, public

# --- accounts ---------------------------------------------------------------------------

ACCOUNT_CREATE_PARAMS = {
    "type", "email", "country", "metadata", "business_type", "business_profile",
    "capabilities", "controller", "default_currency", "settings", "tos_acceptance",
    "company", "individual", "external_account", "expand", "account_token", "documents",
    "groups",
}  # fmt: skip

# What a fresh Standard account still has to provide before it can take payments.
INITIAL_DUE = [
    "business_profile.mcc",
    "business_profile.url",
    "external_account",
    "representative.first_name",
    "representative.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]
REQUIREMENTS_GRACE = 14 * 24 * 3600
# What is left after "Submit with requirements still due".
VERIFICATION_DUE = ["individual.verification.document", "external_account"]


def _requirements(
    due: list[str], disabled_reason: str | None, deadline: int | None = None
) -> dict[str, Any]:
    return {
        "alternatives": [],
        "current_deadline": deadline,
        "currently_due": list(due),
        "disabled_reason": disabled_reason,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


def account_access_error(settings: Settings, account_id: str) -> StripeError:
    # What Stripe answers for an unknown account or one that disconnected the platform.
    return StripeError(
        403,
        f"The provided key 'sk_test_*********' does not have access to account "
        f"'{account_id}' (or that account does not exist). Application access may have "
        f"been revoked.",
        code="account_invalid",
    )


def usable_account(store: Store, settings: Settings, account_id: str) -> dict[str, Any]:
    acct = store.get("accounts", account_id)
    if acct is None or acct.get("_deauthorized"):
        raise account_access_error(settings, account_id)
    return acct


BUSINESS_PROFILE_PARAMS = {
    "annual_revenue", "estimated_worker_count", "mcc", "minority_owned_business_designation",
    "monthly_estimated_revenue", "name", "product_description",
    "specified_commercial_transactions_act_url", "support_address", "support_email",
    "support_phone", "support_url", "url",
}  # fmt: skip
CONTROLLER_PARAMS = {"fees", "losses", "requirement_collection", "stripe_dashboard"}
_CONTROLLER_VALUES = {
    "fees[payer]": ("account", "application"),
    "losses[payments]": ("application", "stripe"),
    "requirement_collection": ("application", "stripe"),
    "stripe_dashboard[type]": ("express", "full", "none"),
}
# What each legacy type means in controller properties (Stripe sets these on accounts
# created with a type, STRIPE-FACTS 1.2); a controller set matching none is type "none".
_LEGACY_CONTROLLER = {
    "standard": {"fees": "account", "losses": "stripe", "requirement_collection": "stripe",
                 "stripe_dashboard": "full"},
    "express": {"fees": "application_express", "losses": "application",
                "requirement_collection": "stripe", "stripe_dashboard": "express"},
    "custom": {"fees": "application_custom", "losses": "application",
               "requirement_collection": "application", "stripe_dashboard": "none"},
}  # fmt: skip


def _one_of(value: Any, param: str, allowed: tuple[str, ...]) -> str:
    text = as_str(value, param)
    if text not in allowed:
        raise StripeError(400, f"Invalid {param}: must be one of {', '.join(allowed)}", param=param)
    return text


def _controller_from_params(raw: Any) -> dict[str, str]:
    """Controller properties as sent, with Stripe's documented defaults filled in."""
    ctl = as_hash(raw, "controller")
    check_known(ctl, CONTROLLER_PARAMS, "controller")
    fees = as_hash(ctl.get("fees", {}), "controller[fees]")
    check_known(fees, {"payer"}, "controller[fees]")
    losses = as_hash(ctl.get("losses", {}), "controller[losses]")
    check_known(losses, {"payments"}, "controller[losses]")
    dash = as_hash(ctl.get("stripe_dashboard", {}), "controller[stripe_dashboard]")
    check_known(dash, {"type"}, "controller[stripe_dashboard]")
    values = {
        "fees": _one_of(fees.get("payer", "account"), "controller[fees][payer]",
                        _CONTROLLER_VALUES["fees[payer]"]),
        "losses": _one_of(losses.get("payments", "stripe"), "controller[losses][payments]",
                          _CONTROLLER_VALUES["losses[payments]"]),
        "requirement_collection": _one_of(
            ctl.get("requirement_collection", "stripe"), "controller[requirement_collection]",
            _CONTROLLER_VALUES["requirement_collection"]),
        "stripe_dashboard": _one_of(dash.get("type", "full"), "controller[stripe_dashboard][type]",
                                    _CONTROLLER_VALUES["stripe_dashboard[type]"]),
    }  # fmt: skip
    if values["losses"] == "application" and values["fees"] != "application":
        raise StripeError(
            400,
            "Setting controller.losses.payments=application requires "
            "controller.fees.payer=application.",
            param="controller[losses][payments]",
        )
    return values


def create_account(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    check_known(params, ACCOUNT_CREATE_PARAMS)
    if "type" in params and "controller" in params:
        raise StripeError(
            400,
            "You cannot specify both `type` and `controller`: use controller properties.",
            param="controller",
        )
    if "controller" in params:
        ctl = _controller_from_params(params["controller"])
        kind = next((t for t, c in _LEGACY_CONTROLLER.items() if c == ctl), "none")
        controller: dict[str, Any] = {
            "fees": {"payer": ctl["fees"]},
            "is_controller": True,
            "losses": {"payments": ctl["losses"]},
            "requirement_collection": ctl["requirement_collection"],
            "stripe_dashboard": {"type": ctl["stripe_dashboard"]},
            "type": "application",
        }
    else:
        kind = as_str(params.get("type", "standard"), "type")
        if kind not in ("standard", "express", "custom"):
            raise StripeError(
                400,
                f"Invalid type: must be one of custom, express, or standard (got {kind!r}).",
                param="type",
            )
        legacy = _LEGACY_CONTROLLER[kind]
        # An account created with a legacy type reports the matching controller set too;
        # a Standard account controls itself.
        controller = {
            "fees": {"payer": legacy["fees"]},
            "is_controller": kind != "standard" or None,
            "losses": {"payments": legacy["losses"]},
            "stripe_dashboard": {"type": legacy["stripe_dashboard"]},
            "type": "account" if kind == "standard" else "application",
        }
        if kind != "standard":
            controller["requirement_collection"] = legacy["requirement_collection"]
    country = as_str(params.get("country", "US"), "country").upper()
    if country not in COUNTRY_CURRENCY:
        raise StripeError(
            400,
            f"Country '{country}' is unknown. Try using a 2-character alphanumeric country code "
            "instead, such as 'US', 'EG', or 'GB'. A full list of country codes is available "
            "at https://stripe.com/docs/connect/accounts#country-codes",
            param="country",
        )
    settles_in = default_currency(country)
    if params.get("default_currency"):
        settles_in = as_str(params["default_currency"], "default_currency").lower()
        if settles_in not in MINIMUM_AMOUNTS:
            raise StripeError(
                400,
                f"{settles_in} is not a supported payout currency in {country}.",
                param="default_currency",
            )
    email = as_email(params["email"], "email") if params.get("email") else None
    profile = as_hash(params.get("business_profile", {}), "business_profile")
    check_known(profile, BUSINESS_PROFILE_PARAMS, "business_profile")
    if profile.get("url"):
        as_url(profile["url"], "business_profile[url]")
    created = now()
    acct = {
        "id": new_id("acct_", 16),
        "object": "account",
        "business_profile": {
            "mcc": profile.get("mcc"),
            "name": profile.get("name"),
            "product_description": profile.get("product_description"),
            "support_email": profile.get("support_email"),
            "url": profile.get("url"),
        },
        "business_type": params.get("business_type"),
        "capabilities": {"card_payments": "inactive", "transfers": "inactive"},
        "charges_enabled": False,
        "controller": controller,
        "country": country,
        "created": created,
        "default_currency": settles_in,
        "details_submitted": False,
        "email": email,
        "future_requirements": _requirements([], None),
        "livemode": False,
        "metadata": metadata(params.get("metadata", {})),
        "payouts_enabled": False,
        # Prefilled fields are not asked again (STRIPE-FACTS 1.7).
        "requirements": _requirements(
            [p for p in INITIAL_DUE if not (p == "business_profile.url" and profile.get("url"))],
            "requirements.past_due",
        ),
        "settings": {
            "dashboard": {"display_name": profile.get("name") or email, "timezone": "Etc/UTC"}
        },
        "type": kind,
    }
    return store.put("accounts", acct)


ONBOARDING_OUTCOMES = ("complete", "requirements_due")


def set_onboarding_outcome(
    store: Store, settings: Settings, fx: Effects, acct: dict[str, Any], outcome: str
) -> dict[str, Any]:
    """Apply what the person did on the onboarding page; emit account.updated if it changed."""
    before = public(acct)
    if outcome == "complete":
        acct.update(
            charges_enabled=True,
            payouts_enabled=True,
            details_submitted=True,
            capabilities={"card_payments": "active", "transfers": "active"},
            requirements=_requirements([], None),
        )
    elif outcome == "requirements_due":
        acct.update(
            charges_enabled=False,
            payouts_enabled=False,
            details_submitted=True,
            capabilities={"card_payments": "inactive", "transfers": "inactive"},
            # Stripe gives a date by which what is still due must be provided.
            requirements=_requirements(
                VERIFICATION_DUE, "requirements.past_due", now() + REQUIREMENTS_GRACE
            ),
        )
    else:
        raise ValueError(outcome)
    previous = {k: v for k, v in before.items() if acct.get(k) != v}
    if previous:
        store.mark_dirty()
        store.emit(
            settings,
            fx,
            "account.updated",
            acct,
            account=acct["id"],
            previous_attributes=previous,
        )
    return acct


def deauthorize(
    store: Store, settings: Settings, fx: Effects, account_id: str, livemode: bool | None = None
) -> dict[str, Any]:
    """The seller disconnects the platform. `livemode` picks the event's mode (default: the
    account's): for an account connected in both modes, Stripe sends the test-mode event
    to the live Connect endpoint as well."""
    acct = store.get("accounts", account_id)
    if acct is None:
        raise no_such("account", account_id)
    if acct.get("_deauthorized"):
        raise StripeError(400, f"Account {account_id} is already disconnected.")
    if livemode is None:
        livemode = bool(acct.get("livemode"))
    elif livemode != bool(acct.get("livemode")):
        # The other mode's connection ends; the account stays connected in its own mode.
        return store.emit(
            settings,
            fx,
            "account.application.deauthorized",
            {"id": store.platform["id"], "object": "application", "name": store.platform["name"]},
            account=account_id,
            livemode=livemode,
        )
    acct["_deauthorized"] = True
    store.mark_dirty()
    application = {
        "id": store.platform["id"],
        "object": "application",
        "name": store.platform["name"],
    }
    return store.emit(
        settings,
        fx,
        "account.application.deauthorized",
        application,
        account=account_id,
        livemode=livemode,
    )


def revoke_access(store: Store, account_id: str) -> dict[str, Any]:
    """The seller removed the platform, and its webhook has not (yet) reached anyone:
    from now on every call about this account gets Stripe's 403."""
    acct = store.get("accounts", account_id)
    if acct is None:
        raise no_such("account", account_id)
    acct["_deauthorized"] = True
    store.mark_dirty()
    return acct


# --- account links ----------------------------------------------------------------------

LINK_PARAMS = {"account", "type", "return_url", "refresh_url", "collect", "collection_options",
               "expand"}  # fmt: skip
LINK_LIFETIME = 300


def create_account_link(store: Store, settings: Settings, params: dict[str, Any]) -> dict[str, Any]:
    check_known(params, LINK_PARAMS)
    if not params.get("account"):
        raise missing("account")
    account_id = as_str(params["account"], "account")
    acct = store.get("accounts", account_id)
    if acct is None:
        raise no_such("account", account_id, "account", status=400)
    usable_account(store, settings, account_id)
    if not params.get("type"):
        raise missing("type")
    kind = as_str(params["type"], "type")
    if kind not in ("account_onboarding", "account_update"):
        raise StripeError(
            400,
            "Invalid type: must be one of account_onboarding or account_update",
            param="type",
        )
    dashboard = ((acct.get("controller") or {}).get("stripe_dashboard") or {}).get("type")
    if kind == "account_update" and (acct["type"] == "standard" or dashboard == "full"):
        raise StripeError(
            400,
            "You cannot create `account_update` type Account Links for Standard accounts.",
            param="type",
        )
    for name in ("refresh_url", "return_url"):
        if not params.get(name):
            raise missing(name)
    created = now()
    token = new_id("alink_")
    link = {
        "id": token,
        "object": "account_link",
        "created": created,
        "expires_at": created + LINK_LIFETIME,
        "url": f"{settings.public_url}/hosted/onboarding/{token}",
        "_account": account_id,
        "_type": kind,
        "_return_url": as_url(params["return_url"], "return_url"),
        "_refresh_url": as_url(params["refresh_url"], "refresh_url"),
        # new -> opened (page shown once) -> used: links are single-use like Stripe's.
        "_state": "new",
    }
    store.put("account_links", link)
    body = public(link)
    body.pop("id")  # Stripe's account_link object has no id
    return body


# --- checkout sessions ------------------------------------------------------------------

SESSION_CREATE_PARAMS = {
    "mode", "line_items", "payment_intent_data", "metadata", "success_url", "cancel_url",
    "customer_email", "client_reference_id", "expires_at", "expand", "customer",
    "customer_creation", "payment_method_types", "locale", "submit_type",
    "allow_promotion_codes", "billing_address_collection", "phone_number_collection",
    "custom_text", "consent_collection", "automatic_tax", "tax_id_collection",
    "invoice_creation", "return_url", "ui_mode", "currency", "discounts", "custom_fields",
    "shipping_address_collection", "payment_method_configuration", "payment_method_options",
    "after_expiration", "redirect_on_completion", "shipping_options", "subscription_data",
    "setup_intent_data", "customer_update", "payment_method_collection",
    "saved_payment_method_options", "excluded_payment_method_types", "adaptive_pricing",
    "branding_settings", "name_collection", "optional_items", "origin_context",
    "permissions", "wallet_options", "payment_method_data",
}  # fmt: skip
LINE_ITEM_PARAMS = {"price", "price_data", "quantity", "adjustable_quantity",
                    "dynamic_tax_rates", "tax_rates", "metadata"}  # fmt: skip
PRICE_DATA_PARAMS = {"currency", "unit_amount", "unit_amount_decimal", "product_data",
                     "product", "tax_behavior", "recurring"}  # fmt: skip
PRODUCT_DATA_PARAMS = {"name", "description", "images", "metadata", "tax_code", "unit_label"}
PI_DATA_PARAMS = {
    "application_fee_amount", "metadata", "description", "capture_method", "receipt_email",
    "setup_future_usage", "shipping", "statement_descriptor", "statement_descriptor_suffix",
    "transfer_data", "transfer_group", "on_behalf_of",
}  # fmt: skip

SESSION_MIN_LIFETIME = 30 * 60
SESSION_MAX_LIFETIME = 24 * 60 * 60
# Seconds of slack on the 30-minute minimum: the app computes "now + 30 min" a moment
# before we check it.
CLOCK_SLACK = 60


def _line_item(raw: Any, index: int) -> dict[str, Any]:
    prefix = f"line_items[{index}]"
    item = as_hash(raw, prefix)
    check_known(item, LINE_ITEM_PARAMS, prefix)
    if "price" in item:
        raise StripeError(
            400, "The local Stripe stand-in supports line_items with price_data only, not "
            "saved Prices.", param=f"{prefix}[price]",
        )  # fmt: skip
    if "price_data" not in item:
        raise missing(f"{prefix}[price_data]")
    price_data = as_hash(item["price_data"], f"{prefix}[price_data]")
    check_known(price_data, PRICE_DATA_PARAMS, f"{prefix}[price_data]")
    if "currency" not in price_data:
        raise missing(f"{prefix}[price_data][currency]")
    currency = as_str(price_data["currency"], f"{prefix}[price_data][currency]").lower()
    if currency not in MINIMUM_AMOUNTS:
        raise StripeError(
            400,
            f"Invalid currency: {currency}. Stripe currently supports these currencies: "
            + ", ".join(sorted(MINIMUM_AMOUNTS)),
            param=f"{prefix}[price_data][currency]",
        )
    if "unit_amount" not in price_data:
        raise missing(f"{prefix}[price_data][unit_amount]")
    unit_amount = as_int(price_data["unit_amount"], f"{prefix}[price_data][unit_amount]")
    minimum = MINIMUM_AMOUNTS[currency]
    if unit_amount < minimum:
        raise StripeError(
            400,
            f"The Checkout Session's total amount due must add up to at least "
            f"{format_amount(minimum, currency)} {currency}",
            code="amount_too_small",
            param=f"{prefix}[price_data][unit_amount]",
        )
    if unit_amount > 99_999_999:
        raise StripeError(
            400,
            "Amount must be no more than $999,999.99",
            code="amount_too_large",
            param=f"{prefix}[price_data][unit_amount]",
        )
    if "product_data" not in price_data:
        raise missing(f"{prefix}[price_data][product_data]")
    product = as_hash(price_data["product_data"], f"{prefix}[price_data][product_data]")
    check_known(product, PRODUCT_DATA_PARAMS, f"{prefix}[price_data][product_data]")
    if not product.get("name"):
        raise missing(f"{prefix}[price_data][product_data][name]")
    if "quantity" not in item:
        raise missing(f"{prefix}[quantity]")
    quantity = as_int(item["quantity"], f"{prefix}[quantity]")
    if quantity < 1:
        raise StripeError(400, "Quantity must be at least 1.", param=f"{prefix}[quantity]")
    item_tax = tax.parse_line_item_tax(price_data, product, prefix)
    name = as_str(product["name"], f"{prefix}[price_data][product_data][name]")
    description = product.get("description")
    if description is not None:
        description = as_str(description, f"{prefix}[price_data][product_data][description]")
        if len(description) > 40000:
            raise StripeError(400, "Description is too long.", param=f"{prefix}[price_data][product_data][description]")  # fmt: skip
    total = unit_amount * quantity
    return {
        "id": new_id("li_"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": total,
        "amount_tax": 0,
        "amount_total": total,
        "currency": currency,
        "description": name,
        "quantity": quantity,
        "price": {
            "id": new_id("price_"),
            "object": "price",
            "active": False,
            "currency": currency,
            "livemode": False,
            "product": new_id("prod_", 14),
            "tax_behavior": item_tax["tax_behavior"] or "unspecified",
            "type": "one_time",
            "unit_amount": unit_amount,
        },
        "_product": {"name": name, "description": description},
        "_tax": item_tax,
    }


def create_session(
    store: Store, settings: Settings, account_id: str | None, params: dict[str, Any]
) -> dict[str, Any]:
    check_known(params, SESSION_CREATE_PARAMS)
    if not account_id:
        raise StripeError(
            400,
            "The local Stripe stand-in creates Checkout Sessions on connected accounts only: "
            "send the Stripe-Account header (stripe_account option).",
        )
    acct = usable_account(store, settings, account_id)
    if not acct["charges_enabled"]:
        raise StripeError(
            400,
            f"The connected account {account_id} cannot accept payments yet: charges_enabled "
            f"is false (onboarding is not complete; requirements due: "
            f"{', '.join(acct['requirements']['currently_due']) or 'none'}).",
        )
    if "mode" not in params:
        raise missing("mode")
    mode = as_str(params["mode"], "mode")
    if mode != "payment":
        raise StripeError(
            400,
            f"The local Stripe stand-in supports mode=payment only (got {mode!r}).",
            param="mode",
        )
    if not params.get("line_items"):
        raise missing("line_items")
    items = [
        _line_item(raw, i) for i, raw in enumerate(as_list(params["line_items"], "line_items"))
    ]
    currencies = {item["currency"] for item in items}
    if len(currencies) > 1:
        raise StripeError(400, "All line items must use the same currency.", param="line_items")
    currency = items[0]["currency"]
    amount_total = sum(item["amount_total"] for item in items)
    automatic_tax = tax.parse_automatic_tax(params.get("automatic_tax"))
    tax.check_session_tax(automatic_tax, items)
    address_collection = None
    if params.get("billing_address_collection") is not None:
        address_collection = as_str(
            params["billing_address_collection"], "billing_address_collection"
        )
        if address_collection not in ("auto", "required"):
            raise StripeError(
                400,
                "Invalid billing_address_collection: must be one of auto or required",
                param="billing_address_collection",
            )
    settles_in = acct.get("default_currency") or currency
    if settles_in != currency and settles_in in MINIMUM_AMOUNTS:
        # Stripe converts a charge to the account's settlement currency and applies that
        # currency's minimum to the converted amount (STRIPE-FACTS 3.3).
        converted = convert(amount_total, currency, settles_in)
        if converted is not None and converted < MINIMUM_AMOUNTS[settles_in]:
            raise StripeError(
                400,
                f"Amount must convert to at least {format_amount(MINIMUM_AMOUNTS[settles_in], settles_in)}. "
                f"{format_amount(amount_total, currency)} converts to approximately "
                f"{format_amount(converted, settles_in)}.",
                code="amount_too_small",
                param="line_items",
            )

    pi_data = as_hash(params.get("payment_intent_data", {}), "payment_intent_data")
    check_known(pi_data, PI_DATA_PARAMS, "payment_intent_data")
    fee = None
    if pi_data.get("application_fee_amount") not in (None, ""):
        fee = as_int(
            pi_data["application_fee_amount"], "payment_intent_data[application_fee_amount]"
        )
        if fee < 0:
            raise StripeError(
                400,
                "Invalid non-negative integer",
                param="payment_intent_data[application_fee_amount]",
            )
        if fee > amount_total:
            raise StripeError(
                400,
                f"The application fee amount ({format_amount(fee, currency)}) cannot be greater "
                f"than the total amount of the Checkout Session "
                f"({format_amount(amount_total, currency)}).",
                param="payment_intent_data[application_fee_amount]",
            )
    pi_metadata = metadata(pi_data.get("metadata", {}), "payment_intent_data[metadata]")
    pi_description = pi_data.get("description")

    created = now()
    expires_at = created + SESSION_MAX_LIFETIME
    if params.get("expires_at") not in (None, ""):
        expires_at = as_int(params["expires_at"], "expires_at")
        if expires_at < created + SESSION_MIN_LIFETIME - CLOCK_SLACK:
            raise StripeError(
                400,
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session "
                "creation.",
                param="expires_at",
            )
        if expires_at > created + SESSION_MAX_LIFETIME + CLOCK_SLACK:
            raise StripeError(
                400,
                "The `expires_at` timestamp must be less than 24 hours from Checkout Session "
                "creation.",
                param="expires_at",
            )
    success_url = (
        as_url(params["success_url"], "success_url") if params.get("success_url") else None
    )
    cancel_url = as_url(params["cancel_url"], "cancel_url") if params.get("cancel_url") else None
    customer_email = (
        as_email(params["customer_email"], "customer_email")
        if params.get("customer_email")
        else None
    )
    reference = params.get("client_reference_id")
    if reference is not None:
        reference = as_str(reference, "client_reference_id")
        if len(reference) > 200:
            raise StripeError(400, "client_reference_id must be at most 200 characters.", param="client_reference_id")  # fmt: skip

    session_id = new_id("cs_test_", 58)
    session = {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": automatic_tax,
        "billing_address_collection": address_collection,
        "cancel_url": cancel_url,
        "client_reference_id": reference,
        "client_secret": None,
        "created": created,
        "currency": currency,
        "custom_fields": [],
        "customer": None,
        "customer_creation": "if_required",
        "customer_details": None,
        "customer_email": customer_email,
        "expires_at": expires_at,
        "invoice": None,
        "livemode": False,
        "locale": params.get("locale"),
        "metadata": metadata(params.get("metadata", {})),
        "mode": "payment",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "recovered_from": None,
        "setup_intent": None,
        "shipping_details": None,
        "status": "open",
        "submit_type": params.get("submit_type"),
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": f"{settings.public_url}/hosted/checkout/{session_id}",
        "_account": account_id,
        "_line_items": items,
        "_payment_intent_data": {
            "application_fee_amount": fee,
            "metadata": pi_metadata,
            "description": pi_description,
        },
    }
    return store.put("sessions", session)


def session_for(store: Store, account_id: str | None, session_id: str) -> dict[str, Any]:
    session = store.get("sessions", session_id)
    if session is None or session["_account"] != account_id:
        raise no_such("checkout.session", session_id, "session")
    return session


def expire_session(
    store: Store, settings: Settings, fx: Effects, session: dict[str, Any], *, explicit: bool
) -> dict[str, Any]:
    if session["status"] != "open":
        if explicit:
            raise StripeError(
                400,
                f'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f'Checkout Session has a status of "{session["status"]}".',
                code="checkout_session_not_open",
            )
        return session
    session.update(status="expired", url=None)
    pi_id = session.get("payment_intent")
    if pi_id:
        pi = store.get("payment_intents", pi_id)
        if pi and pi["status"] != "succeeded":
            pi.update(status="canceled", canceled_at=now(), cancellation_reason="abandoned")
    store.mark_dirty()
    store.emit(settings, fx, "checkout.session.expired", session, account=session["_account"])
    return session


def expire_if_due(store: Store, settings: Settings, fx: Effects, session: dict[str, Any]) -> None:
    if session["status"] == "open" and now() >= session["expires_at"]:
        expire_session(store, settings, fx, session, explicit=False)


def sweep_expired(store: Store, settings: Settings, fx: Effects) -> None:
    """Expire sessions whose time has come even if nobody looks (Stripe does)."""
    moment = now()
    for session in store.data["sessions"].values():
        if session["status"] == "open" and moment >= session["expires_at"]:
            expire_session(store, settings, fx, session, explicit=False)


# --- paying -----------------------------------------------------------------------------


class PayFormError(Exception):
    """Something the payment form itself refuses (bad email/number): no charge happens."""


@dataclass
class CardInput:
    email: str
    number: str
    exp: str = "12 / 34"
    cvc: str = "123"
    name: str = ""
    # The billing address Checkout asks for when automatic tax (or
    # billing_address_collection=required) needs it.
    country: str = ""
    state: str = ""
    postal_code: str = ""


def needs_address(session: dict[str, Any]) -> bool:
    return bool(session["automatic_tax"]["enabled"]) or (
        session.get("billing_address_collection") == "required"
    )


def _check_card(card: CardInput) -> tuple[str, int, int]:
    number = "".join(ch for ch in card.number if not ch.isspace() and ch != "-")
    if not number:
        raise PayFormError("Your card number is incomplete.")
    if not luhn_ok(number):
        raise PayFormError("Your card number is invalid.")
    digits = "".join(ch for ch in card.exp if ch.isdigit())
    if len(digits) not in (4, 6):
        raise PayFormError("Your card's expiration date is incomplete.")
    month, year = int(digits[:2]), int(digits[2:])
    year = year + 2000 if year < 100 else year
    if not 1 <= month <= 12:
        raise PayFormError("Your card's expiration date is invalid.")
    today = datetime.date.today()
    if (year, month) < (today.year, today.month):
        raise PayFormError("Your card's expiration year is in the past.")
    cvc = card.cvc.strip()
    if not (cvc.isdigit() and len(cvc) in (3, 4)):
        raise PayFormError("Your card's security code is incomplete.")
    return number, month, year


def pay_session(
    store: Store, settings: Settings, fx: Effects, session_id: str, card: CardInput
) -> dict[str, Any]:
    """Pay a Checkout Session as the hosted page would. Returns the session.

    Raises PayFormError for form problems and a 402 card_error StripeError for declines
    (after recording the failed charge and emitting its events, as Stripe does).
    """
    session = store.get("sessions", session_id)
    if session is None:
        raise no_such("checkout.session", session_id, "session")
    expire_if_due(store, settings, fx, session)
    if session["status"] == "complete":
        raise PayFormError("This payment has already been completed.")
    if session["status"] != "open":
        raise PayFormError("This Checkout Session has expired.")
    account_id = session["_account"]
    acct = store.get("accounts", account_id)
    if acct is None or acct.get("_deauthorized") or not acct["charges_enabled"]:
        raise PayFormError("This business cannot accept payments right now.")
    try:
        # A session made with `customer_email` shows it prefilled and locked, as Stripe does.
        email = session.get("customer_email") or as_email(card.email, "email")
    except StripeError as exc:
        raise PayFormError("Your email address is invalid.") from exc
    number, exp_month, exp_year = _check_card(card)
    address = None
    if needs_address(session):
        try:
            address = tax.location_for(card.country, card.state, card.postal_code)
        except tax.TaxLocationError as exc:
            raise PayFormError(str(exc)) from exc
        if session["automatic_tax"]["enabled"]:
            tax.apply_tax(session, address)
    info = card_for(number)
    created = now()
    pi_data = session["_payment_intent_data"]
    fee = pi_data["application_fee_amount"]

    pi = store.get("payment_intents", session["payment_intent"] or "")
    if pi is None:
        pi_id = new_id("pi_")
        pi = store.put(
            "payment_intents",
            {
                "id": pi_id,
                "object": "payment_intent",
                "amount": session["amount_total"],
                "amount_capturable": 0,
                "amount_received": 0,
                "application": store.platform["id"],
                "application_fee_amount": fee,
                "canceled_at": None,
                "cancellation_reason": None,
                "capture_method": "automatic_async",
                "client_secret": f"{pi_id}_secret_{new_id('', 25)}",
                "confirmation_method": "automatic",
                "created": created,
                "currency": session["currency"],
                "customer": None,
                "description": pi_data.get("description"),
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": bool(session.get("livemode")),
                "metadata": dict(pi_data["metadata"]),
                "on_behalf_of": None,
                "payment_method": None,
                "payment_method_types": ["card"],
                "receipt_email": None,
                "status": "requires_payment_method",
                "transfer_data": None,
                "transfer_group": None,
                "_account": account_id,
                "_session": session["id"],
            },
        )
        session["payment_intent"] = pi_id
    elif pi["amount"] != session["amount_total"]:  # a new address changed the tax
        pi["amount"] = session["amount_total"]

    payment_method = new_id("pm_")
    charge_id = new_id("ch_")
    declined = info.decline
    last4 = number[-4:]
    charge = {
        "id": charge_id,
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": 0 if declined else pi["amount"],
        "amount_refunded": 0,
        "application": store.platform["id"],
        "application_fee": None if declined or fee is None else new_id("fee_"),
        "application_fee_amount": fee,
        "balance_transaction": None if declined else new_id("txn_"),
        "billing_details": {
            "address": address,
            "email": email,
            "name": card.name or None,
            "phone": None,
        },
        "captured": not declined,
        "created": created,
        "currency": pi["currency"],
        "customer": None,
        "description": pi["description"],
        "disputed": False,
        "failure_code": declined[0] if declined else None,
        "failure_message": declined[2] if declined else None,
        "livemode": bool(session.get("livemode")),
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": None,
        "outcome": _outcome(declined),
        "paid": not declined,
        "payment_intent": pi["id"],
        "payment_method": payment_method,
        "payment_method_details": {
            "type": "card",
            "card": {
                "brand": info.brand,
                "country": info.country,
                "exp_month": exp_month,
                "exp_year": exp_year,
                "funding": info.funding,
                "last4": last4,
            },
        },
        "receipt_email": None,
        "receipt_url": None,
        "refunded": False,
        "status": "failed" if declined else "succeeded",
        "_account": account_id,
        "_application_fee_refunded": 0,
    }
    store.put("charges", charge)
    if charge["application_fee"]:
        # The platform's Application Fee object: the platform reads it (no Stripe-Account),
        # the connected account cannot.
        store.put(
            "application_fees",
            {
                "id": charge["application_fee"],
                "object": "application_fee",
                "account": account_id,
                "amount": fee,
                "amount_refunded": 0,
                "application": store.platform["id"],
                "balance_transaction": new_id("txn_"),
                "charge": charge_id,
                "created": created,
                "currency": charge["currency"],
                "fee_source": {"charge": charge_id, "type": "charge"},
                "livemode": bool(session.get("livemode")),
                "originating_transaction": None,
                "refunded": False,
                "refunds": {
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "url": f"/v1/application_fees/{charge['application_fee']}/refunds",
                },
                "_account": None,
            },
        )
    if not declined:
        ledger.charge_settle_later(store, charge)
    pi.update(latest_charge=charge_id, payment_method=payment_method)

    if declined:
        code, decline_code, message = declined
        error = {
            "type": "card_error",
            "code": code,
            "message": message,
            "charge": charge_id,
            "payment_method": {"id": payment_method, "object": "payment_method", "type": "card"},
        }
        if decline_code:
            error["decline_code"] = decline_code
        pi.update(status="requires_payment_method", last_payment_error=error)
        store.mark_dirty()
        store.emit(settings, fx, "charge.failed", charge, account=account_id)
        store.emit(settings, fx, "payment_intent.payment_failed", pi, account=account_id)
        extra = {"charge": charge_id, "payment_intent": public(pi)}
        if decline_code:
            extra["decline_code"] = decline_code
        raise StripeError(402, message, type="card_error", code=code, extra=extra)

    pi.update(status="succeeded", amount_received=pi["amount"], last_payment_error=None)
    session.update(
        status="complete",
        payment_status="paid",
        url=None,
        customer_details={
            "address": address,
            "email": email,
            "name": card.name or None,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
    )
    store.mark_dirty()
    # The order the brief asks for; Stripe itself does not guarantee delivery order.
    store.emit(settings, fx, "checkout.session.completed", session, account=account_id)
    store.emit(settings, fx, "payment_intent.succeeded", pi, account=account_id)
    store.emit(settings, fx, "charge.succeeded", charge, account=account_id)
    return session


def _outcome(declined: tuple[str, str | None, str] | None) -> dict[str, Any]:
    if not declined:
        return {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "network_status": "declined_by_network",
        "reason": declined[1] or declined[0],
        "risk_level": "normal",
        "seller_message": "The bank did not return any further details with this decline.",
        "type": "issuer_declined",
    }


def success_redirect(session: dict[str, Any]) -> str | None:
    url = session.get("success_url")
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if url else None


# --- refunds ----------------------------------------------------------------------------

REFUND_PARAMS = {"charge", "payment_intent", "amount", "refund_application_fee",
                 "reverse_transfer", "reason", "metadata", "expand", "instructions_email",
                 "origin", "customer", "currency"}  # fmt: skip
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def create_refund(
    store: Store, settings: Settings, fx: Effects, account_id: str | None, params: dict[str, Any]
) -> dict[str, Any]:
    check_known(params, REFUND_PARAMS)
    charge: dict[str, Any] | None = None
    if params.get("charge"):
        charge_id = as_str(params["charge"], "charge")
        charge = store.get("charges", charge_id)
        if charge is None or charge["_account"] != account_id:
            raise no_such("charge", charge_id, "charge", status=400)
    if params.get("payment_intent"):
        pi_id = as_str(params["payment_intent"], "payment_intent")
        pi = store.get("payment_intents", pi_id)
        if pi is None or pi["_account"] != account_id:
            raise no_such("payment_intent", pi_id, "payment_intent", status=400)
        if pi["status"] != "succeeded":
            raise StripeError(
                400,
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        pi_charge = store.get("charges", pi["latest_charge"])
        if charge is not None and charge is not pi_charge:
            raise StripeError(
                400, "The charge and payment_intent do not match.", param="payment_intent"
            )
        charge = pi_charge
    if charge is None:
        raise StripeError(400, "One of the following params should be provided for this request: charge or payment_intent.")  # fmt: skip
    if not charge["paid"]:
        raise StripeError(400, f"Charge {charge['id']} has not been paid and cannot be refunded.", param="charge")  # fmt: skip
    if charge["refunded"]:
        raise StripeError(
            400,
            f"Charge {charge['id']} has already been refunded.",
            code="charge_already_refunded",
        )
    dispute = next(
        (d for d in store.data["disputes"].values() if d["charge"] == charge["id"]), None
    )
    if dispute and dispute["status"] in (*DISPUTE_OPEN, "lost", "prevented"):
        raise StripeError(
            400,
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    remaining = charge["amount"] - charge["amount_refunded"]
    amount = remaining
    if params.get("amount") not in (None, ""):
        amount = as_int(params["amount"], "amount")
        if amount <= 0:
            raise StripeError(400, "Invalid positive integer", param="amount")
        if amount > remaining:
            raise StripeError(
                400,
                f"Refund amount ({format_amount(amount, charge['currency'])}) is greater than "
                f"unrefunded amount on charge ({format_amount(remaining, charge['currency'])})",
                code="amount_too_large",
                param="amount",
            )
    reason = params.get("reason")
    if reason not in (None, ""):
        reason = as_str(reason, "reason")
        if reason not in REFUND_REASONS:
            raise StripeError(
                400,
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                param="reason",
            )
    else:
        reason = None
    refund_fee = False
    if params.get("refund_application_fee") not in (None, ""):
        refund_fee = as_bool(params["refund_application_fee"], "refund_application_fee")
    # Only the application that made the charge can refund its fee (STRIPE-FACTS 7.2): a
    # refund the seller makes with their own key or in their Dashboard returns none of it.
    refund_fee = refund_fee and not fx.own_key

    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    refund = store.put(
        "refunds",
        {
            "id": new_id("re_"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": new_id("txn_"),
            "charge": charge["id"],
            "created": now(),
            "currency": charge["currency"],
            "destination_details": {
                "card": {"reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund"},
                "type": "card",
            },
            "metadata": metadata(params.get("metadata", {})),
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
            "_account": charge["_account"],
            "_refund_application_fee": refund_fee,
        },
    )  # fmt: skip
    fee_before = charge["_application_fee_refunded"]
    if refund_fee:
        _refund_fee_share(store, settings, fx, charge, amount)
    ledger.refund_settle(store, refund, charge, charge["_application_fee_refunded"] - fee_before)
    store.mark_dirty()
    store.emit(
        settings,
        fx,
        "charge.refunded",
        charge,
        account=charge["_account"],
        previous_attributes=previous,
    )
    store.emit(settings, fx, "refund.created", refund, account=charge["_account"])
    return refund


def fee_share(fee: int, refunded: int, amount: int) -> int:
    """The part of an application fee that refunds of `refunded` out of `amount` take back.

    Stripe documents the proportion ("an amount proportional to the amount of the charge
    refunded"), not its rounding (STRIPE-FACTS 7.2). The stand-in keeps the share
    cumulative and rounds it half up, so partial refunds never add up to more than the
    fee and a full refund always returns all of it.
    """
    if amount <= 0 or refunded >= amount:
        return fee
    return min(fee, (2 * fee * refunded + amount) // (2 * amount))


def _refund_fee_share(
    store: Store, settings: Settings, fx: Effects, charge: dict[str, Any], amount: int
) -> None:
    fee_obj = store.get("application_fees", charge.get("application_fee") or "")
    if fee_obj is None or fee_obj["refunded"]:
        return
    charge["_amount_refunded_with_fee"] = charge.get("_amount_refunded_with_fee", 0) + amount
    target = fee_share(fee_obj["amount"], charge["_amount_refunded_with_fee"], charge["amount"])
    share = target - fee_obj["amount_refunded"]
    charge["_application_fee_refunded"] = target
    if share <= 0:
        return
    fee_obj["refunds"]["data"].insert(
        0,
        {
            "id": new_id("fr_"),
            "object": "fee_refund",
            "amount": share,
            "balance_transaction": new_id("txn_"),
            "created": now(),
            "currency": fee_obj["currency"],
            "fee": fee_obj["id"],
            "metadata": {},
        },
    )
    previous = {"amount_refunded": fee_obj["amount_refunded"], "refunded": fee_obj["refunded"]}
    fee_obj["amount_refunded"] = target
    fee_obj["refunded"] = target >= fee_obj["amount"]
    # A platform event (no `account`): it goes to the platform's own endpoint.
    store.emit(
        settings, fx, "application_fee.refunded", fee_obj, account=None,
        previous_attributes=previous,
    )  # fmt: skip


REFUND_FAILURE_REASONS = ("lost_or_stolen_card", "expired_or_canceled_card", "unknown")


def fail_refund(
    store: Store, settings: Settings, fx: Effects, refund_id: str, reason: str = "unknown"
) -> dict[str, Any]:
    """The card network sends a refund back, as happens with a closed card account.

    The refund becomes `failed` with a `failure_reason` and a `failure_balance_transaction`;
    the charge's `amount_refunded` drops by its amount (and `refunded` is false again).
    Events: `refund.updated`, `charge.refund.updated`, `refund.failed`. Whether Stripe gives
    back the application fee share it refunded is not documented: the stand-in leaves the
    Application Fee as it is.
    """
    refund = store.get("refunds", refund_id)
    if refund is None:
        raise no_such("refund", refund_id)
    if reason not in REFUND_FAILURE_REASONS:
        raise StripeError(400, f"reason must be one of {', '.join(REFUND_FAILURE_REASONS)}", param="reason")  # fmt: skip
    if refund["status"] not in ("pending", "succeeded", "requires_action"):
        raise StripeError(400, f"Refund {refund_id} is {refund['status']}; it cannot fail now.")
    charge = store.get("charges", refund["charge"])
    assert charge is not None
    previous = {"status": refund["status"], "failure_reason": None}
    refund.update(
        status="failed", failure_reason=reason, failure_balance_transaction=new_id("txn_")
    )
    charge["amount_refunded"] = max(0, charge["amount_refunded"] - refund["amount"])
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    store.mark_dirty()
    account = charge["_account"]
    store.emit(settings, fx, "refund.updated", refund, account=account, previous_attributes=previous)  # fmt: skip
    store.emit(settings, fx, "charge.refund.updated", refund, account=account, previous_attributes=previous)  # fmt: skip
    store.emit(settings, fx, "refund.failed", refund, account=account)
    return refund


def list_refunds(
    store: Store, account_id: str | None, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """The account's refunds, newest first, optionally of one charge or PaymentIntent."""
    check_known(params, {"charge", "payment_intent", "created", "limit", "starting_after",
                         "ending_before", "expand"})  # fmt: skip
    charge = as_str(params["charge"], "charge") if params.get("charge") else None
    pi = (
        as_str(params["payment_intent"], "payment_intent") if params.get("payment_intent") else None
    )
    items = [
        r
        for r in store.data["refunds"].values()
        if r["_account"] == account_id
        and (charge is None or r["charge"] == charge)
        and (pi is None or r["payment_intent"] == pi)
    ]
    items.sort(key=lambda r: (r["created"], r["_seq"]), reverse=True)
    return items


# --- disputes ---------------------------------------------------------------------------

DISPUTE_REASONS = ("bank_cannot_process", "credit_not_processed", "customer_initiated",
                   "debit_not_authorized", "duplicate", "fraudulent", "general",
                   "incorrect_account_details", "insufficient_funds", "product_not_received",
                   "product_unacceptable", "subscription_canceled", "unrecognized")  # fmt: skip


# Every status of a Dispute (API 2026-10-28.endive, STRIPE-FACTS 6.1).
DISPUTE_STATUSES = (
    "warning_needs_response", "warning_under_review", "warning_closed", "needs_response",
    "under_review", "appeal_needs_response", "appeal_under_review", "won", "lost", "prevented",
)  # fmt: skip
DISPUTE_CLOSED = ("warning_closed", "won", "lost", "prevented")
DISPUTE_OPEN = tuple(s for s in DISPUTE_STATUSES if s not in DISPUTE_CLOSED)
# How a dispute may open: an inquiry (warning_*), a chargeback, or one stopped upstream.
DISPUTE_OPENING = ("warning_needs_response", "needs_response", "prevented")


def create_dispute(
    store: Store,
    settings: Settings,
    fx: Effects,
    charge_id: str,
    reason: str = "fraudulent",
    amount: int | None = None,
    status: str = "needs_response",
) -> dict[str, Any]:
    charge = store.get("charges", charge_id)
    if charge is None:
        raise no_such("charge", charge_id, "charge")
    if not charge["paid"]:
        raise StripeError(400, f"Charge {charge_id} was not paid; it cannot be disputed.")
    if charge["disputed"]:
        raise StripeError(400, f"Charge {charge_id} is already disputed.")
    if reason not in DISPUTE_REASONS:
        raise StripeError(400, f"Invalid reason: must be one of {', '.join(DISPUTE_REASONS)}", param="reason")  # fmt: skip
    if status not in DISPUTE_OPENING:
        raise StripeError(400, f"A dispute opens as one of {', '.join(DISPUTE_OPENING)}", param="status")  # fmt: skip
    created = now()
    dispute = store.put(
        "disputes",
        {
            "id": new_id("dp_"),
            "object": "dispute",
            "amount": amount
            if amount is not None
            else charge["amount"] - charge["amount_refunded"],
            "balance_transactions": [],
            "charge": charge_id,
            "created": created,
            "currency": charge["currency"],
            "evidence": {},
            "evidence_details": {
                "due_by": created + 7 * 24 * 3600,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": status.startswith("warning_"),
            "livemode": bool(charge.get("livemode")),
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": status,
            "_account": charge["_account"],
        },
    )
    charge["disputed"] = True
    store.mark_dirty()
    store.emit(settings, fx, "charge.dispute.created", dispute, account=charge["_account"])
    return dispute


def close_dispute(
    store: Store, settings: Settings, fx: Effects, dispute_id: str, status: str
) -> dict[str, Any]:
    if status not in ("won", "lost"):
        raise StripeError(400, "status must be won or lost", param="status")
    return set_dispute_status(store, settings, fx, dispute_id, status)


def set_dispute_status(
    store: Store, settings: Settings, fx: Effects, dispute_id: str, status: str
) -> dict[str, Any]:
    """Move a dispute to any status, as the card network and Stripe would.

    A closed dispute stays closed, except that a lost one can be appealed
    (`appeal_needs_response`). Closing emits `charge.dispute.closed`, anything else
    `charge.dispute.updated`.
    """
    dispute = store.get("disputes", dispute_id)
    if dispute is None:
        raise no_such("dispute", dispute_id)
    if status not in DISPUTE_STATUSES:
        raise StripeError(400, f"Invalid status: must be one of {', '.join(DISPUTE_STATUSES)}", param="status")  # fmt: skip
    current = dispute["status"]
    if current == status:
        raise StripeError(400, f"Dispute {dispute_id} is already {status}.")
    if current in DISPUTE_CLOSED and not (current == "lost" and status == "appeal_needs_response"):
        raise StripeError(400, f"Dispute {dispute_id} is already closed ({current}).")
    previous = {"status": current}
    dispute["status"] = status
    dispute["is_charge_refundable"] = status.startswith("warning_") and status != "warning_closed"
    store.mark_dirty()
    store.emit(
        settings,
        fx,
        "charge.dispute.closed" if status in DISPUTE_CLOSED else "charge.dispute.updated",
        dispute,
        account=dispute["_account"],
        previous_attributes=previous,
    )
    return dispute
