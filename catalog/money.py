"""Money: integers in minor units plus an ISO currency code. Never floats."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# Stripe's minimum charge amounts, in minor units, per currency: the one table the product
# uses (a price, and an account's settlement currency, are checked against it). Source:
# https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts, as mirrored in
# /work/shared/STRIPE-FACTS.md 3.2 (not re-checked against Stripe's live table).
STRIPE_MINIMUM_CHARGE: dict[str, int] = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50,
    "czk": 1500, "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50,
    "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200,
    "sek": 300, "sgd": 50, "thb": 1000,
}  # fmt: skip
ZERO_DECIMAL = {"jpy"}  # of the currencies above (Stripe: JPY has no minor unit)

# When a price's currency is not the one the seller's Stripe account settles in, Stripe
# converts the charge and refuses it unless it "converts to at least" the settlement
# currency's minimum (STRIPE-FACTS 3.3). We can't know Stripe's rate in advance, so we
# check with these approximate values of one major unit in US dollars (hand-updated
# reference rates, Dec 2026) plus a 15 % margin; Stripe has the last word at checkout.
APPROX_USD_VALUE: dict[str, float] = {
    "usd": 1.0, "aed": 0.272, "aud": 0.65, "bgn": 0.56, "brl": 0.18, "cad": 0.72,
    "chf": 1.12, "czk": 0.044, "dkk": 0.147, "eur": 1.10, "gbp": 1.28, "hkd": 0.128,
    "huf": 0.0028, "inr": 0.0118, "jpy": 0.0066, "mxn": 0.053, "myr": 0.225, "nok": 0.092,
    "nzd": 0.58, "pln": 0.26, "ron": 0.22, "sek": 0.095, "sgd": 0.75, "thb": 0.029,
}  # fmt: skip
CONVERSION_MARGIN = 1.15


@dataclass(frozen=True)
class Currency:
    code: str
    symbol: str
    exponent: int  # digits after the decimal point
    minimum: int  # Stripe's minimum charge, minor units
    maximum: int  # the platform's ceiling for one product, minor units


CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("usd", "$", 2, STRIPE_MINIMUM_CHARGE["usd"], 999_999_99),
        Currency("eur", "€", 2, STRIPE_MINIMUM_CHARGE["eur"], 999_999_99),
        Currency("gbp", "£", 2, STRIPE_MINIMUM_CHARGE["gbp"], 999_999_99),
        Currency("cad", "CA$", 2, STRIPE_MINIMUM_CHARGE["cad"], 999_999_99),
        Currency("aud", "A$", 2, STRIPE_MINIMUM_CHARGE["aud"], 999_999_99),
        Currency("jpy", "¥", 0, STRIPE_MINIMUM_CHARGE["jpy"], 99_999_999),
    )
}
CURRENCY_CHOICES = [(code, code.upper()) for code in CURRENCIES]


class MoneyError(ValueError):
    pass


def currency(code: str) -> Currency:
    try:
        return CURRENCIES[(code or "").lower()]
    except KeyError:
        supported = ", ".join(c.upper() for c in CURRENCIES)
        raise MoneyError(
            f"Currency “{code}” is not supported; choose one of {supported}."
        ) from None


def parse_amount(text: str, code: str) -> int:
    """'12.50' in USD → 1250. Rejects what a price cannot be, with a message saying why."""
    cur = currency(code)
    raw = (text or "").strip().replace(",", "").lstrip(cur.symbol).strip()
    if not raw:
        raise MoneyError("Enter a price.")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise MoneyError(f"“{text}” is not a number.") from None
    if not value.is_finite():
        raise MoneyError(f"“{text}” is not a number.")
    if value.as_tuple().exponent < -cur.exponent:
        places = "no decimals" if cur.exponent == 0 else f"at most {cur.exponent} decimals"
        raise MoneyError(f"{cur.code.upper()} prices take {places}.")
    minor = int(value.scaleb(cur.exponent))
    validate_amount(minor, cur.code)
    return minor


def validate_amount(minor: int, code: str) -> int:
    cur = currency(code)
    if minor <= 0:
        raise MoneyError("The price must be more than zero.")
    if minor < cur.minimum:
        raise MoneyError(
            f"The lowest price Stripe can charge in {cur.code.upper()} is {format_amount(cur.minimum, cur.code)}."
        )
    if minor > cur.maximum:
        raise MoneyError(f"The highest price is {format_amount(cur.maximum, cur.code)}.")
    return minor


def minimum_charge(code: str, *, settles_in: str | None = None) -> int:
    """The lowest price (minor units of `code`) Stripe charges for an account that settles
    in `settles_in` (None: not known yet, so only the price currency's own minimum)."""
    cur = currency(code)
    lowest = cur.minimum
    settles_in = (settles_in or "").lower()
    if settles_in and settles_in != cur.code and settles_in in STRIPE_MINIMUM_CHARGE:
        floor = STRIPE_MINIMUM_CHARGE[settles_in]
        floor_major = floor / (1 if settles_in in ZERO_DECIMAL else 100)
        usd = floor_major * APPROX_USD_VALUE[settles_in] * CONVERSION_MARGIN
        converted = math.ceil(usd / APPROX_USD_VALUE[cur.code] * 10**cur.exponent)
        lowest = max(lowest, converted)
    return lowest


def validate_minimum(minor: int, code: str, *, settles_in: str | None) -> int:
    """Refuse a price below what Stripe charges, naming the minimum (MoneyError)."""
    lowest = minimum_charge(code, settles_in=settles_in)
    if minor < lowest:
        cur = currency(code)
        if settles_in and settles_in.lower() != cur.code:
            floor = STRIPE_MINIMUM_CHARGE.get(settles_in.lower())
            floor_text = format_amount(floor, settles_in) if floor else settles_in.upper()
            raise MoneyError(
                f"Your Stripe account settles in {settles_in.upper()}, and Stripe only "
                f"charges amounts worth at least {floor_text}: the lowest price in "
                f"{cur.code.upper()} is {format_amount(lowest, cur.code)}."
            )
        raise MoneyError(
            f"The lowest price Stripe can charge in {cur.code.upper()} is "
            f"{format_amount(lowest, cur.code)}."
        )
    return minor


def format_amount(minor: int, code: str) -> str:
    if (code or "").lower() not in CURRENCIES and (code or "").lower() in STRIPE_MINIMUM_CHARGE:
        # A settlement currency products can't be priced in (e.g. SEK): "SEK 3.00".
        exponent = 0 if code.lower() in ZERO_DECIMAL else 2
        return f"{code.upper()} {Decimal(minor).scaleb(-exponent):,.{exponent}f}"
    cur = currency(code)
    if cur.exponent == 0:
        return f"{cur.symbol}{minor:,}"
    units, cents = divmod(abs(minor), 10**cur.exponent)
    sign = "-" if minor < 0 else ""
    return f"{sign}{cur.symbol}{units:,}.{cents:0{cur.exponent}d}"


def money_display(minor: int | None, code: str) -> str:
    """An amount for a page, which never breaks it: "" when unknown, and an amount in a
    currency the platform does not list (a ledger row from Stripe, an old setting) as its
    raw minor units with the code: "1,234 XYZ (minor units)"."""
    if minor is None:
        return ""
    try:
        return format_amount(int(minor), code)
    except MoneyError:
        return f"{int(minor):,} {(code or '').upper()} (minor units)"


def to_decimal_string(minor: int, code: str) -> str:
    cur = currency(code)
    if cur.exponent == 0:
        return str(minor)
    units, cents = divmod(minor, 10**cur.exponent)
    return f"{units}.{cents:0{cur.exponent}d}"
