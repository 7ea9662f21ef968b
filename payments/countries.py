"""Where a seller's Stripe account can be: the countries Stripe Connect accounts exist in.

An account's country is fixed when it is created (STRIPE-FACTS 1.5), so the seller picks
it before we create the account. The list is Stripe's global availability
(https://stripe.com/global) for accounts that run their own full Dashboard, minus the
countries whose settlement currency has no sourced minimum charge in
catalog.money.STRIPE_MINIMUM_CHARGE (Indonesia, IDR) and India (accounts by invitation).
The currency is the country's default (its Country Spec's `default_currency`): what
Stripe settles in unless the seller picks another payout currency.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    currency: str


CONNECT_COUNTRIES: tuple[Country, ...] = tuple(
    Country(code, name, currency)
    for code, name, currency in (
        ("AU", "Australia", "aud"),
        ("AT", "Austria", "eur"),
        ("BE", "Belgium", "eur"),
        ("BR", "Brazil", "brl"),
        ("BG", "Bulgaria", "eur"),  # in the euro area since 1 January 2026
        ("CA", "Canada", "cad"),
        ("HR", "Croatia", "eur"),
        ("CY", "Cyprus", "eur"),
        ("CZ", "Czech Republic", "czk"),
        ("DK", "Denmark", "dkk"),
        ("EE", "Estonia", "eur"),
        ("FI", "Finland", "eur"),
        ("FR", "France", "eur"),
        ("DE", "Germany", "eur"),
        ("GI", "Gibraltar", "gbp"),
        ("GR", "Greece", "eur"),
        ("HK", "Hong Kong", "hkd"),
        ("HU", "Hungary", "huf"),
        ("IE", "Ireland", "eur"),
        ("IT", "Italy", "eur"),
        ("JP", "Japan", "jpy"),
        ("LV", "Latvia", "eur"),
        ("LI", "Liechtenstein", "chf"),
        ("LT", "Lithuania", "eur"),
        ("LU", "Luxembourg", "eur"),
        ("MY", "Malaysia", "myr"),
        ("MT", "Malta", "eur"),
        ("MX", "Mexico", "mxn"),
        ("NL", "Netherlands", "eur"),
        ("NZ", "New Zealand", "nzd"),
        ("NO", "Norway", "nok"),
        ("PL", "Poland", "pln"),
        ("PT", "Portugal", "eur"),
        ("RO", "Romania", "ron"),
        ("SG", "Singapore", "sgd"),
        ("SK", "Slovakia", "eur"),
        ("SI", "Slovenia", "eur"),
        ("ES", "Spain", "eur"),
        ("SE", "Sweden", "sek"),
        ("CH", "Switzerland", "chf"),
        ("TH", "Thailand", "thb"),
        ("AE", "United Arab Emirates", "aed"),
        ("GB", "United Kingdom", "gbp"),
        ("US", "United States", "usd"),
    )
)
BY_CODE: dict[str, Country] = {c.code: c for c in CONNECT_COUNTRIES}
COUNTRY_CHOICES = [(c.code, c.name) for c in CONNECT_COUNTRIES]

# A browser that sends only a language ("ja", "fr"): the country most of its speakers
# sell from. English alone says nothing: the platform's default applies.
_LANGUAGE_COUNTRY = {
    "bg": "BG", "cs": "CZ", "da": "DK", "de": "DE", "el": "GR", "es": "ES", "et": "EE",
    "fi": "FI", "fr": "FR", "hr": "HR", "hu": "HU", "it": "IT", "ja": "JP", "lt": "LT",
    "lv": "LV", "ms": "MY", "mt": "MT", "nb": "NO", "nl": "NL", "nn": "NO", "no": "NO",
    "pl": "PL", "pt": "PT", "ro": "RO", "sk": "SK", "sl": "SI", "sv": "SE", "th": "TH",
}  # fmt: skip


def country_default(*, accept_language: str) -> str:
    """The country to preselect: from the browser's Accept-Language (`fr-FR` → FR, `ja`
    → JP), else the platform's `STRIPE_DEFAULT_COUNTRY`. Always one of the list."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, index, tag.strip()))
    for _, _, tag in sorted(ranked):
        pieces = tag.replace("_", "-").split("-")
        language = pieces[0].lower()
        region = next((p.upper() for p in pieces[1:] if len(p) == 2 and p.isalpha()), "")
        if region in BY_CODE:
            return region
        if language in _LANGUAGE_COUNTRY:
            return _LANGUAGE_COUNTRY[language]
    fallback = settings.STRIPE_DEFAULT_COUNTRY
    return fallback if fallback in BY_CODE else "US"


def country_check(code: str) -> Country:
    """The country a seller picked, or ValueError with a message to show."""
    country = BY_CODE.get((code or "").strip().upper())
    if country is None:
        raise ValueError("Choose the country your business is in from the list.")
    return country
