"""Currencies, minimum amounts and Stripe's test cards.

The minimums are Stripe's published minimum charge amounts; checking them here means an
app that would be refused by the real API for a too-small price is refused locally too.
"""

from __future__ import annotations

from dataclasses import dataclass

# Stripe's minimum charge amount per settlement currency, in the smallest unit.
MINIMUM_AMOUNTS: dict[str, int] = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}

ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx",
                "vnd", "vuv", "xaf", "xof", "xpf"}  # fmt: skip

_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$",
            "nzd": "NZ$", "hkd": "HK$", "sgd": "SGD ", "inr": "₹", "brl": "R$", "mxn": "MX$"}  # fmt: skip

DEFAULT_CURRENCY_BY_COUNTRY = {"US": "usd", "GB": "gbp", "CA": "cad", "AU": "aud", "JP": "jpy",
                               "CH": "chf", "NZ": "nzd", "SE": "sek", "NO": "nok", "DK": "dkk",
                               "PL": "pln", "CZ": "czk", "HU": "huf", "MX": "mxn", "SG": "sgd",
                               "HK": "hkd", "IN": "inr", "BR": "brl"}  # fmt: skip
EURO_COUNTRIES = {"AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT",
                  "LU", "LV", "MT", "NL", "PT", "SI", "SK"}  # fmt: skip


# Countries where accounts can be created, with the currency an account settles in by
# default (its Country Spec's default_currency).
COUNTRY_CURRENCY: dict[str, str] = {
    **DEFAULT_CURRENCY_BY_COUNTRY,
    **dict.fromkeys(EURO_COUNTRIES, "eur"),
    "BG": "eur", "GI": "gbp", "LI": "chf", "RO": "ron", "MY": "myr", "TH": "thb", "AE": "aed",
    "ID": "idr",
}  # fmt: skip


def default_currency(country: str) -> str:
    return COUNTRY_CURRENCY.get(country, "usd")


# The stand-in's exchange rates: approximate value of one major unit in US dollars.
USD_VALUE: dict[str, float] = {
    "usd": 1.0, "aed": 0.272, "aud": 0.65, "bgn": 0.56, "brl": 0.18, "cad": 0.72,
    "chf": 1.12, "czk": 0.044, "dkk": 0.147, "eur": 1.10, "gbp": 1.28, "hkd": 0.128,
    "huf": 0.0028, "inr": 0.0118, "jpy": 0.0066, "mxn": 0.053, "myr": 0.225, "nok": 0.092,
    "nzd": 0.58, "pln": 0.26, "ron": 0.22, "sek": 0.095, "sgd": 0.75, "thb": 0.029,
}  # fmt: skip


def convert(amount: int, source: str, target: str) -> int | None:
    """`amount` minor units of `source` in minor units of `target` (None: no rate)."""
    if source not in USD_VALUE or target not in USD_VALUE:
        return None
    major = amount / (1 if source in ZERO_DECIMAL else 100)
    value = major * USD_VALUE[source] / USD_VALUE[target]
    return int(value * (1 if target in ZERO_DECIMAL else 100))


def format_amount(amount: int, currency: str) -> str:
    """Human price as a checkout page shows it: `$12.00`, `€9.50`, `¥500`."""
    currency = currency.lower()
    symbol = _SYMBOLS.get(currency, currency.upper() + " ")
    if currency in ZERO_DECIMAL:
        return f"{symbol}{amount:,}"
    return f"{symbol}{amount / 100:,.2f}"


# --- test cards -------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    brand: str
    funding: str = "credit"
    country: str = "US"
    # Set for cards that decline: (code, decline_code, message)
    decline: tuple[str, str | None, str] | None = None


_DECLINED = "Your card was declined."

TEST_CARDS: dict[str, Card] = {
    "4242424242424242": Card("visa"),
    "4000056655665556": Card("visa", "debit"),
    "5555555555554444": Card("mastercard"),
    "2223003122003222": Card("mastercard"),
    "5200828282828210": Card("mastercard", "debit"),
    "378282246310005": Card("amex"),
    "371449635398431": Card("amex"),
    "6011111111111117": Card("discover"),
    "3566002020360505": Card("jcb", country="JP"),
    "4000000000000002": Card("visa", decline=("card_declined", "generic_decline", _DECLINED)),
    "4000000000009995": Card(
        "visa", decline=("card_declined", "insufficient_funds", "Your card has insufficient funds.")
    ),
    "4000000000009987": Card("visa", decline=("card_declined", "lost_card", _DECLINED)),
    "4000000000009979": Card("visa", decline=("card_declined", "stolen_card", _DECLINED)),
    "4100000000000019": Card("visa", decline=("card_declined", "fraudulent", _DECLINED)),
    "4000000000000069": Card("visa", decline=("expired_card", None, "Your card has expired.")),
    "4000000000000127": Card(
        "visa", decline=("incorrect_cvc", None, "Your card's security code is incorrect.")
    ),
    "4000000000000119": Card(
        "visa",
        decline=(
            "processing_error",
            None,
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ),
}

# Any other well-formed number is a "real" card, which test mode declines.
NON_TEST_CARD = Card(
    "unknown",
    decline=(
        "card_declined",
        "test_mode_live_card",
        "Your card was declined. Your request was in test mode, but used a non test card. "
        "For a list of valid test cards, visit: https://stripe.com/docs/testing.",
    ),
)


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_for(number: str) -> Card:
    return TEST_CARDS.get(number, NON_TEST_CARD)
