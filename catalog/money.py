"""Money: integers in minor units plus an ISO currency code. Never floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


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
        Currency("usd", "$", 2, 50, 999_999_99),
        Currency("eur", "€", 2, 50, 999_999_99),
        Currency("gbp", "£", 2, 30, 999_999_99),
        Currency("cad", "CA$", 2, 50, 999_999_99),
        Currency("aud", "A$", 2, 50, 999_999_99),
        Currency("jpy", "¥", 0, 50, 99_999_999),
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


def format_amount(minor: int, code: str) -> str:
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
