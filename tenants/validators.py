from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

SUBDOMAIN_MIN = 3
SUBDOMAIN_MAX = 40
# Names a store may never take: platform hosts, mail and infrastructure names, and words
# that would let a store pass for the platform itself.
RESERVED_SUBDOMAINS = frozenset(
    """
    www www1 www2 admin administrator api app apps assets auth billing blog cdn checkout
    console dashboard dev docs download downloads email files ftp git help help-center
    imap internal login logout mail mailer media mx news ns ns1 ns2 official payments
    platform pop pop3 portal root secure security shop signup smtp sso stage staging
    static status store stores stripe support system test webhook webhooks webmail
    """.split()
)
_ALLOWED = re.compile(r"^[a-z0-9-]+$")


def validate_subdomain(value: str) -> str:
    """Return the normalised subdomain or raise a ValidationError saying what is wrong."""
    raw = value or ""
    sub = raw.strip()
    if not sub:
        raise ValidationError("Choose a subdomain for your store.", code="required")
    if sub != sub.lower():
        raise ValidationError(
            "Use lowercase letters only (for example %(suggestion)s).",
            code="uppercase",
            params={"suggestion": sub.lower()},
        )
    if not _ALLOWED.match(sub):
        raise ValidationError(
            "Use only lowercase letters a–z, digits and hyphens; no spaces, dots, accents or symbols.",
            code="invalid_characters",
        )
    if len(sub) < SUBDOMAIN_MIN or len(sub) > SUBDOMAIN_MAX:
        raise ValidationError(
            "A subdomain is %(min)d to %(max)d characters long (this one has %(n)d).",
            code="length",
            params={"min": SUBDOMAIN_MIN, "max": SUBDOMAIN_MAX, "n": len(sub)},
        )
    if sub.startswith("-") or sub.endswith("-"):
        raise ValidationError("A subdomain cannot start or end with a hyphen.", code="hyphen")
    if "--" in sub:
        raise ValidationError("A subdomain cannot contain two hyphens in a row.", code="hyphen")
    if sub in RESERVED_SUBDOMAINS:
        raise ValidationError(
            "“%(sub)s” is reserved by the platform; please choose another.",
            code="reserved",
            params={"sub": sub},
        )
    return sub


# --- Store names ----------------------------------------------------------------------------
# A store's name goes into email subjects and From names, page titles and receipts: one line.
# A line break in a header is refused by Django's mail (BadHeaderError), so a name POSTed
# with one would stop every receipt of the store; it is folded into a space instead.
_NAME_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_NAME_SPACES = re.compile(r"\s+")
STORE_NAME_MAX = 80


def store_name_clean(value: str) -> str:
    """The store name as one line: NFC, no control characters, single spaces, trimmed."""
    text = unicodedata.normalize("NFC", value or "")
    text = _NAME_SPACES.sub(" ", _NAME_CONTROL.sub(" ", text)).strip()
    if not text:
        raise ValidationError({"name": "Give your store a name."})
    if len(text) > STORE_NAME_MAX:
        raise ValidationError(
            {"name": f"Keep the name under {STORE_NAME_MAX} characters ({len(text)} now)."}
        )
    return text


# --- The platform fee ---------------------------------------------------------------------
# A store's fee override and the platform default: percent of the price plus a fixed part.
FEE_PERCENT_MAX = Decimal(50)
FEE_FIXED_MAX = 100_000


def fee_validate(*, fee_percent: Any, fee_fixed: Any) -> tuple[Decimal | None, int | None]:
    """The one fee check (a store's override, the console's form, the platform default in
    settings). None or "" means the platform default. Percent 0 to FEE_PERCENT_MAX with at
    most 2 decimals; fixed 0 to FEE_FIXED_MAX minor units. Returns the normalised pair;
    raises ValidationError keyed by field."""
    errors: dict[str, str] = {}
    percent: Decimal | None = None
    fixed: int | None = None
    if fee_percent is not None and fee_percent != "":
        try:
            percent = Decimal(str(fee_percent))
        except InvalidOperation:
            percent = None
            errors["fee_percent"] = "Enter a percentage like 4.5."
        else:
            if not percent.is_finite():
                errors["fee_percent"] = "Enter a percentage like 4.5."
            elif percent.as_tuple().exponent < -2:  # type: ignore[operator]
                errors["fee_percent"] = "Use at most 2 decimals."
            elif not (0 <= percent <= FEE_PERCENT_MAX):
                errors["fee_percent"] = f"The percentage must be between 0 and {FEE_PERCENT_MAX}."
            else:
                percent = percent.quantize(Decimal("0.01"))
    if fee_fixed is not None and fee_fixed != "":
        if isinstance(fee_fixed, bool) or not isinstance(fee_fixed, int):
            errors["fee_fixed"] = "Enter a whole number of minor units (cents)."
        elif not (0 <= fee_fixed <= FEE_FIXED_MAX):
            errors["fee_fixed"] = f"The fixed part must be between 0 and {FEE_FIXED_MAX:,}."
        else:
            fixed = fee_fixed
    if errors:
        raise ValidationError(errors)
    return percent, fixed
