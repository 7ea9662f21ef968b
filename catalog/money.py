"""Money: integers in minor units plus an ISO currency code. Never floats."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

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


class MoneyAmbiguous(MoneyError):
    """The price could be read two ways; the seller is asked, never guessed for."""


@dataclass(frozen=True)
class PriceReading:
    """How we read what the seller typed: the amount, and whether to show it back first."""

    typed: str
    minor: int
    code: str

    @property
    def display(self) -> str:
        return format_amount(self.minor, self.code)

    @property
    def token(self) -> str:
        """What the form's confirmation field carries once the seller has seen the reading."""
        return f"{to_decimal_string(self.minor, self.code)} {self.code}"

    @property
    def needs_confirmation(self) -> bool:
        """Anything but plain digits with a "." before the cents is shown back first:
        "12,50" is €12.50, "1.000,00" is €1,000.00, and the seller should see that."""
        places = CURRENCIES[self.code].exponent
        literal = r"[0-9]+" + (rf"(\.[0-9]{{1,{places}}})?" if places else "")
        return re.fullmatch(literal, self.typed) is None


# Spaces and apostrophes between digit groups ("1 250,00", "1'250.00", narrow no-break
# spaces as French locales type them) only group thousands.
_GROUP_SPACE = re.compile(r"(?<=[0-9])[\s\u00a0\u202f\u2009'’](?=[0-9]{3}(?:[^0-9]|$))")
_NUMBER = re.compile(r"[0-9.,]+")


def read_price(text: str, code: str) -> PriceReading:
    """What a seller typed, read as people write prices, or a MoneyError that says why.

    - "." or "," followed by one or two digits at the end is the decimal separator:
      "12.50" and "12,50" are both 12.50 (most of Europe types the comma).
    - With both, the last one is the decimal separator and the other groups thousands:
      "1,000.00" and "1.000,00" are both 1000.00.
    - The same separator twice or more only groups thousands: "1,000,000", "1.000.000"
      (and "1,00,000", Indian grouping).
    - One separator followed by exactly three digits ("1,250", "1.250") is a thousands
      separator or three decimals, and a 2-decimal currency cannot tell: we ask. In a
      currency without decimals (JPY) it can only group thousands: ¥1,250.
    """
    typed, minor, cur = _read_minor(text, code)
    validate_amount(minor, cur.code)
    return PriceReading(typed=typed, minor=minor, code=cur.code)


def read_amount(text: str, code: str) -> int:
    """What a buyer typed as the amount to pay (pay what you want), in minor units: read as
    `read_price` reads a price, but 0 is an amount ("nothing") and a sign is refused.
    MoneyError (its message is for the buyer) when it is not an amount."""
    typed, minor, _ = _read_minor(text, code)
    if minor < 0 or typed.lstrip().startswith("-"):
        raise MoneyError("Enter an amount of zero or more.")
    return minor


def _read_minor(text: str, code: str) -> tuple[str, int, Currency]:
    """(what was typed, its value in minor units, the currency); see `read_price`."""
    cur = currency(code)
    typed = (text or "").strip()
    raw = typed
    for mark in sorted({cur.symbol, cur.code.upper(), cur.code}, key=len, reverse=True):
        if raw.upper().startswith(mark.upper()):
            raw = raw[len(mark) :].strip()
        if raw.upper().endswith(mark.upper()):
            raw = raw[: -len(mark)].strip()
    raw = _GROUP_SPACE.sub("", raw)
    if not raw:
        raise MoneyError("Enter a price.")
    negative = raw.startswith("-")
    raw = raw.lstrip("-+").strip()
    if not _NUMBER.fullmatch(raw) or not any(c.isdigit() for c in raw):
        raise MoneyError(f"“{typed}” is not a number.")
    whole, fraction = _split(raw, typed, cur)
    if len(fraction) > cur.exponent:
        places = "no decimals" if cur.exponent == 0 else f"at most {cur.exponent} decimals"
        raise MoneyError(f"{cur.code.upper()} prices take {places}.")
    value = Decimal(f"{whole or 0}.{fraction or 0}")
    minor = int(value.scaleb(cur.exponent)) * (-1 if negative else 1)
    return typed, minor, cur


def _split(raw: str, typed: str, cur: Currency) -> tuple[str, str]:
    """(whole digits, decimal digits) of a number made of digits, "." and ","."""
    unreadable = MoneyError(
        f"“{typed}” is not a number we can read: write it like 1250, 12.50 or 12,50."
    )
    commas, dots = raw.count(","), raw.count(".")
    if commas and dots:
        decimal = "," if raw.rfind(",") > raw.rfind(".") else "."
        grouping = "." if decimal == "," else ","
        if raw.count(decimal) > 1:
            raise unreadable
        whole, fraction = raw.rsplit(decimal, 1)
        return _ungroup(whole, grouping, unreadable), fraction
    if not commas and not dots:
        return raw, ""
    separator = "," if commas else "."
    if raw.count(separator) > 1:
        return _ungroup(raw, separator, unreadable), ""
    whole, fraction = raw.split(separator)
    if len(fraction) == 3 and whole and cur.exponent < 3:
        if cur.exponent == 0:
            return whole + fraction, ""
        as_thousands = format_amount(int(whole + fraction) * 10**cur.exponent, cur.code)
        if fraction.endswith("0"):
            as_decimals = format_amount(int(whole + fraction[:2]), cur.code)
            raise MoneyAmbiguous(
                f"“{typed}” could be {as_thousands} or {as_decimals}, so we do not guess: "
                f"type {whole}{fraction} for {as_thousands}, or {whole}.{fraction[:2]} "
                f"for {as_decimals}."
            )
        raise MoneyAmbiguous(
            f"“{typed}” could be {as_thousands}, or a price with decimals, which "
            f"{cur.code.upper()} prices take at most {cur.exponent} of: type {whole}{fraction} "
            f"for {as_thousands}, or the price with {cur.exponent} decimals."
        )
    return whole, fraction


def _ungroup(whole: str, separator: str, unreadable: MoneyError) -> str:
    groups = whole.split(separator)
    head, rest = groups[0], groups[1:]
    if not head or len(head) > 3 or not rest or len(rest[-1]) != 3:
        raise unreadable
    # Thousands (1,000,000) or Indian lakhs (1,00,000): groups of 2 before the last 3.
    if not (all(len(g) == 3 for g in rest) or all(len(g) == 2 for g in rest[:-1])):
        raise unreadable
    return "".join(groups)


def parse_amount(text: str, code: str) -> int:
    """'12.50' or '12,50' in USD → 1250. Refuses what a price cannot be, saying why."""
    return read_price(text, code).minor


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
