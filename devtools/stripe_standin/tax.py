"""Stripe Tax on Checkout Sessions, from a small fixed table so tests know the numbers.

As Stripe does (https://docs.stripe.com/payments/checkout/taxes): `automatic_tax[enabled]`
makes the session wait for the buyer's address (`automatic_tax.status` is
`requires_location_inputs` until then), every line item needs a `tax_behavior` (the
stand-in's accounts have no default in their tax settings), the tax is computed per line
item from its `tax_code` and the buyer's location, and the session then reports
`total_details.amount_tax`, the line items' `amount_tax`, an `amount_total` that includes
exclusive tax, `customer_details.address`, and `total_details.breakdown.taxes` (included
only when the request expands `total_details.breakdown`) whose `rate` is a TaxRate object.
Where the account has no registration (here: a location not in the table) the tax is 0
with `taxability_reason` `not_collecting` (STRIPE-FACTS 9.4).

The table (percent, taxability reason): e-books (txcd_10302000) are taxed at reduced
rates in much of Europe, which is why the tax code matters; the general electronically
supplied services code (txcd_10000000, and a line item with no code) gets the standard rate.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .params import StripeError, as_bool, as_hash, as_str, check_known
from .store import new_id, now

EBOOK = "txcd_10302000"
GENERAL = "txcd_10000000"
TAX_CODE = re.compile(r"^txcd_[0-9]{8}$")
TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")

# jurisdiction → (display name, tax type, {tax code: (percent, taxability reason)})
_VAT = ("VAT", "vat")
_SALES = ("Sales Tax", "sales_tax")
TAX_TABLE: dict[str, tuple[tuple[str, str], dict[str, tuple[str, str]]]] = {
    "DE": (_VAT, {EBOOK: ("7", "reduced_rated"), GENERAL: ("19", "standard_rated")}),
    "FR": (_VAT, {EBOOK: ("5.5", "reduced_rated"), GENERAL: ("20", "standard_rated")}),
    "GB": (_VAT, {EBOOK: ("0", "zero_rated"), GENERAL: ("20", "standard_rated")}),
    "IE": (_VAT, {EBOOK: ("9", "reduced_rated"), GENERAL: ("23", "standard_rated")}),
    "NL": (_VAT, {EBOOK: ("9", "reduced_rated"), GENERAL: ("21", "standard_rated")}),
    # California does not tax digital products; Washington taxes digital goods (state rate).
    "US-CA": (_SALES, {EBOOK: ("0", "not_subject_to_tax"), GENERAL: ("0", "not_subject_to_tax")}),
    "US-WA": (_SALES, {EBOOK: ("6.5", "standard_rated"), GENERAL: ("6.5", "standard_rated")}),
}
# Offered on the stand-in's Checkout page (and accepted from tests); a country that is not
# in the table has no registration there.
COUNTRIES = ("US", "GB", "DE", "FR", "IE", "NL", "CA", "AU", "JP", "ES", "IT")
US_STATES = ("CA", "WA", "NY", "TX", "OR")


def parse_automatic_tax(raw: Any) -> dict[str, Any]:
    """The session's `automatic_tax` as Stripe returns it (before any address is known)."""
    if raw is None:
        return {"enabled": False, "liability": None, "provider": None, "status": None}
    params = as_hash(raw, "automatic_tax")
    check_known(params, {"enabled", "liability"}, "automatic_tax")
    if "enabled" not in params:
        raise StripeError(400, "Missing required param: automatic_tax[enabled].", param="automatic_tax[enabled]")  # fmt: skip
    enabled = as_bool(params["enabled"], "automatic_tax[enabled]")
    liability = None
    if params.get("liability") is not None:
        liability = as_hash(params["liability"], "automatic_tax[liability]")
        kind = as_str(liability.get("type", ""), "automatic_tax[liability][type]")
        if kind not in ("self", "account"):
            raise StripeError(400, "Invalid automatic_tax[liability][type]: must be one of self or account", param="automatic_tax[liability][type]")  # fmt: skip
        liability = {"type": kind, "account": liability.get("account")}
    if not enabled:
        return {"enabled": False, "liability": None, "provider": None, "status": None}
    return {
        "enabled": True,
        # A direct charge's tax is the connected account's own (it is merchant of record).
        "liability": liability or {"type": "self"},
        "provider": "stripe",
        "status": "requires_location_inputs",
    }


def parse_line_item_tax(price_data: dict[str, Any], product: dict[str, Any], prefix: str) -> dict:
    """A line item's `tax_behavior` and `tax_code`, checked as Stripe checks them."""
    behavior = None
    if price_data.get("tax_behavior") is not None:
        behavior = as_str(price_data["tax_behavior"], f"{prefix}[price_data][tax_behavior]")
        if behavior not in TAX_BEHAVIORS:
            raise StripeError(
                400,
                f"Invalid {prefix}[price_data][tax_behavior]: must be one of exclusive, "
                "inclusive, or unspecified",
                param=f"{prefix}[price_data][tax_behavior]",
            )
    code = None
    if product.get("tax_code") is not None:
        code = as_str(product["tax_code"], f"{prefix}[price_data][product_data][tax_code]")
        if not TAX_CODE.match(code):
            raise StripeError(
                400,
                f"Invalid tax code: {code}",
                param=f"{prefix}[price_data][product_data][tax_code]",
            )
    return {"tax_behavior": behavior, "tax_code": code}


def check_session_tax(automatic_tax: dict[str, Any], items: list[dict[str, Any]]) -> None:
    if not automatic_tax["enabled"]:
        return
    for index, item in enumerate(items):
        if item["_tax"]["tax_behavior"] in (None, "unspecified"):
            raise StripeError(
                400,
                "When `automatic_tax[enabled]=true`, every line item's price needs a "
                "`tax_behavior` of `exclusive` or `inclusive` unless the account's tax "
                "settings give a default (this account's do not).",
                param=f"line_items[{index}][price_data][tax_behavior]",
            )


class TaxLocationError(ValueError):
    """What the Checkout page says when the address is not enough to compute tax."""


def location_for(country: str, state: str, postal_code: str) -> dict[str, Any]:
    country = (country or "").strip().upper()
    state = (state or "").strip().upper()
    if not country:
        raise TaxLocationError("Choose your country or region.")
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise TaxLocationError("Your country or region is invalid.")
    if country == "US" and not state:
        raise TaxLocationError("Choose your state.")
    return {
        "city": None,
        "country": country,
        "line1": None,
        "line2": None,
        "postal_code": (postal_code or "").strip() or None,
        "state": state or None,
    }


def _tax_rate(jurisdiction: str, percent: str, name: tuple[str, str], live: bool) -> dict:
    country, _, state = jurisdiction.partition("-")
    return {
        "id": new_id("txr_"),
        "object": "tax_rate",
        "active": False,
        "country": country,
        "created": now(),
        "description": None,
        "display_name": name[0],
        "effective_percentage": float(Decimal(percent)),
        "flat_amount": None,
        "inclusive": False,
        "jurisdiction": state or jurisdiction,
        "jurisdiction_level": "state" if state else "country",
        "livemode": live,
        "metadata": {},
        "percentage": float(Decimal(percent)),
        "rate_type": "percentage",
        "state": state or None,
        "tax_type": name[1],
    }


def _tax_on(amount: int, percent: Decimal, behavior: str) -> int:
    if behavior == "inclusive":
        net = (Decimal(amount) * 100 / (100 + percent)).quantize(Decimal(1), ROUND_HALF_UP)
        return amount - int(net)
    return int((Decimal(amount) * percent / 100).quantize(Decimal(1), ROUND_HALF_UP))


def apply_tax(session: dict[str, Any], address: dict[str, Any]) -> None:
    """Compute the session's tax for the buyer's address (the buyer submitted the form)."""
    country, state = address["country"], address.get("state") or ""
    jurisdiction = f"{country}-{state}" if country == "US" else country
    entry = TAX_TABLE.get(jurisdiction)
    live = bool(session.get("livemode"))
    by_rate: dict[str, dict[str, Any]] = {}
    total_tax = 0
    exclusive_tax = 0
    for item in session["_line_items"]:
        behavior = item["_tax"]["tax_behavior"] or "exclusive"
        code = item["_tax"]["tax_code"] or GENERAL
        if entry is None:
            percent, reason = "0", "not_collecting"
            name = _SALES if country == "US" else _VAT
        else:
            name, rates = entry
            percent, reason = rates.get(code, rates[GENERAL])
        tax = _tax_on(item["amount_subtotal"], Decimal(percent), behavior)
        item["amount_tax"] = tax
        item["amount_total"] = item["amount_subtotal"] + (tax if behavior == "exclusive" else 0)
        total_tax += tax
        exclusive_tax += tax if behavior == "exclusive" else 0
        key = f"{jurisdiction}:{percent}:{reason}:{behavior}"
        if key not in by_rate:
            rate = _tax_rate(jurisdiction, percent, name, live)
            rate["inclusive"] = behavior == "inclusive"
            by_rate[key] = {"amount": 0, "rate": rate, "taxability_reason": reason,
                            "taxable_amount": 0}  # fmt: skip
        by_rate[key]["amount"] += tax
        by_rate[key]["taxable_amount"] += item["amount_subtotal"] - (
            tax if behavior == "inclusive" else 0
        )
    session["total_details"]["amount_tax"] = total_tax
    session["amount_total"] = session["amount_subtotal"] + exclusive_tax
    session["automatic_tax"]["status"] = "complete"
    session["_breakdown"] = {"discounts": [], "taxes": list(by_rate.values())}


def breakdown(session: dict[str, Any]) -> dict[str, Any]:
    """`total_details.breakdown` as an expanded session shows it."""
    return session.get("_breakdown") or {"discounts": [], "taxes": []}
