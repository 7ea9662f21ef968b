"""Money: integers in minor units plus an ISO currency code. Never floats."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal


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
    validate_amount(minor, cur.code)
    return PriceReading(typed=typed, minor=minor, code=cur.code)


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


def format_amount(minor: int, code: str) -> str:
    cur = currency(code)
    if cur.exponent == 0:
        return f"{cur.symbol}{minor:,}"
    units, cents = divmod(abs(minor), 10**cur.exponent)
    sign = "-" if minor < 0 else ""
    return f"{sign}{cur.symbol}{units:,}.{cents:0{cur.exponent}d}"


def to_decimal_string(minor: int, code: str) -> str:
    cur = currency(code)
    if cur.exponent == 0:
        return str(minor)
    units, cents = divmod(minor, 10**cur.exponent)
    return f"{units}.{cents:0{cur.exponent}d}"
