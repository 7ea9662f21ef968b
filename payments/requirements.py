"""What Stripe still needs from a seller, in words.

Stripe lists requirements as field paths (`business_profile.mcc`, `external_account`,
`tos_acceptance.ip`; STRIPE-FACTS 1.12). Sellers get labels; several paths can share one
(`tos_acceptance.date` and `.ip` are one step: accepting Stripe's terms), and a path we
have no label for still reads as words.
"""

from __future__ import annotations

import re

# (prefix, label): the first prefix a path starts with wins, so longer ones come first.
_LABELS: tuple[tuple[str, str], ...] = (
    ("business_profile.mcc", "What your business sells (its industry)"),
    ("business_profile.url", "Your business website (or a description of your product)"),
    ("business_profile.product_description", "A description of what you sell"),
    ("business_profile.support_phone", "A customer support phone number"),
    ("business_profile.name", "Your business name"),
    ("business_type", "Whether you sell as an individual or a company"),
    ("external_account", "A bank account for your payouts"),
    ("tos_acceptance", "Accepting Stripe's services agreement"),
    ("individual.verification", "An identity document"),
    ("individual.first_name", "Your name"),
    ("individual.last_name", "Your name"),
    ("individual.dob", "Your date of birth"),
    ("individual.address", "Your home address"),
    ("individual.email", "Your email address"),
    ("individual.phone", "Your phone number"),
    ("individual.id_number", "Your personal ID or tax number"),
    ("individual.ssn_last_4", "The last 4 digits of your Social Security number"),
    ("individual", "More details about you"),
    ("representative.verification", "An identity document for the company's representative"),
    ("representative", "Details about the person who represents the company"),
    ("company.name", "Your company's legal name"),
    ("company.tax_id", "Your company's tax ID"),
    ("company.address", "Your company's address"),
    ("company.phone", "Your company's phone number"),
    ("company.verification", "A document that verifies your company"),
    ("company.owners_provided", "Your company's owners"),
    ("company.directors_provided", "Your company's directors"),
    ("company.executives_provided", "Your company's executives"),
    ("company", "More details about your company"),
    ("owners", "Details about your company's owners"),
    ("directors", "Details about your company's directors"),
    ("executives", "Details about your company's executives"),
    ("person_", "Details about a person at your company"),
    ("settings.payments.statement_descriptor", "How your business appears on card statements"),
    ("documents", "Documents Stripe asked for"),
)

_WORD = re.compile(r"[a-z0-9]+")


def requirement_label(path: str) -> str:
    """One requirement path in words (unknown ones: "Other details: statement descriptor")."""
    for prefix, label in _LABELS:
        if (
            path == prefix
            or path.startswith((f"{prefix}.", f"{prefix}["))
            or (prefix.endswith("_") and path.startswith(prefix))
        ):
            return label
    words = _WORD.findall(path.lower().replace("_", " "))
    meaningful = [w for w in words if not w.isdigit()]
    tail = " ".join(meaningful[-3:]) or "more information"
    return f"Other details: {tail}"


def requirement_labels(paths: list[str]) -> list[str]:
    """Labels for a list of paths, each once, in Stripe's order."""
    seen: dict[str, None] = {}
    for path in paths:
        seen.setdefault(requirement_label(str(path)), None)
    return list(seen)
