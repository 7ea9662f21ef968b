"""Discount codes: which code applies to which product, and the price it makes.

Choice (issue #12): the discount is applied on the platform, not with Stripe coupons on
the seller's account. The Checkout Session's `unit_amount` is already the discounted
price and the line item names the code. Why: one source of truth (the code, its limits
and its uses live in the store's schema, next to the purchases that count them); the
CheckoutRecord already pins the amount Stripe must report, so a discounted sale is
checked exactly like any other; no coupon objects to create, keep in sync or clean up on
every seller's account (STRIPE-FACTS 8.3: they would have to live there); the fee is
computed on what the buyer pays without reading `total_details` back; and a 100 % code
needs no Stripe at all.

Everything here runs in the active store's schema: a code of another store is simply not
found, and the buyer is told "not a valid code", the same as for a typo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone

from tenants import cells

from .models import DiscountCode, Product
from .money import CURRENCIES, MoneyError, format_amount, parse_amount

# What a buyer may type: letters, digits and dashes (as Stripe's promotion codes, 8.5).
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,39}$")

NOT_VALID = "That is not a valid code."


@dataclass(frozen=True)
class Quote:
    """A product's price with a code applied."""

    code: DiscountCode
    list_price: int
    discount: int
    currency: str

    @property
    def amount(self) -> int:
        return self.list_price - self.discount

    @property
    def is_free(self) -> bool:
        return self.amount == 0

    @property
    def discount_display(self) -> str:
        return format_amount(self.discount, self.currency)

    @property
    def amount_display(self) -> str:
        return format_amount(self.amount, self.currency)

    @property
    def label(self) -> str:
        """What the Checkout line item, the receipt and the CSV call the discount."""
        return f"code {self.code.code.upper()}: −{self.discount_display}"


def discount_quote(*, product: Product, code: str, lock: bool = False) -> Quote:
    """The product's price with `code`, or ValidationError with what the buyer should know.

    `lock=True` (inside a transaction) takes the code's row lock, for callers that then
    count its uses. Limits that depend on other orders (uses, one per email) are checked
    by payments, which owns the orders.
    """
    text = (code or "").strip()
    if not CODE_PATTERN.match(text):
        raise ValidationError(NOT_VALID)
    qs = DiscountCode.objects.named(text)
    if lock:
        qs = qs.select_for_update()
    found = qs.first()
    if found is None or not found.active:
        raise ValidationError(NOT_VALID)
    now = timezone.now()
    if found.starts_at and now < found.starts_at:
        raise ValidationError("This code is not valid yet.")
    if found.ends_at and now >= found.ends_at:
        raise ValidationError("This code has expired.")
    if not found.all_products and not found.products.filter(pk=product.pk).exists():
        raise ValidationError("This code does not apply to this product.")
    if found.kind == DiscountCode.Kind.FIXED and found.currency != product.currency:
        raise ValidationError("This code does not apply to this product.")
    if found.max_uses is not None and found.uses >= found.max_uses:
        raise ValidationError("This code has been used up.")
    discount = found.discount_for(product.price)
    return Quote(code=found, list_price=product.price, discount=discount, currency=product.currency)


# --- The seller's side: create, deactivate ------------------------------------------------

PERCENT, FIXED = DiscountCode.Kind.PERCENT, DiscountCode.Kind.FIXED
MAX_USES_MAX = 1_000_000


def discount_code_create(
    *,
    code: str,
    kind: str,
    value: str,
    currency: str = "",
    product_uids: list[str] | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    max_uses: int | None = None,
    once_per_email: bool = False,
) -> DiscountCode:
    """A new code in the active store. `value` is a percent ("15") or an amount as the
    seller types it ("3.50", in `currency`). ValidationError keyed by field otherwise."""
    text = (code or "").strip()
    errors: dict[str, str] = {}
    if not CODE_PATTERN.match(text):
        errors["code"] = "Use 1 to 40 letters, digits or dashes, starting with a letter or digit."
    elif DiscountCode.objects.named(text).exists():
        errors["code"] = "This store already has this code (codes ignore upper and lower case)."
    percent_off = amount_off = None
    cur = ""
    if kind == PERCENT:
        try:
            percent_off = int((value or "").strip().rstrip("%").strip())
        except ValueError:
            percent_off = None
        if percent_off is None or not 1 <= percent_off <= 100:
            errors["value"] = "Enter a whole percentage from 1 to 100."
    elif kind == FIXED:
        cur = (currency or "").lower()
        if cur not in CURRENCIES:
            errors["currency"] = "Choose the currency of the products this code is for."
        else:
            try:
                amount_off = parse_amount(value or "", cur)
            except MoneyError as exc:
                errors["value"] = str(exc)
            else:
                if amount_off <= 0:
                    errors["value"] = "Enter an amount above zero."
    else:
        errors["kind"] = "Choose percent or amount off."
    products = list(Product.objects.filter(uid__in=product_uids or []))
    if product_uids and len(products) != len(set(product_uids)):
        errors["products"] = "Choose products of this store."
    if starts_at and ends_at and ends_at <= starts_at:
        errors["ends_at"] = "The end must be after the start."
    if max_uses is not None and not 1 <= max_uses <= MAX_USES_MAX:
        errors["max_uses"] = f"Enter a limit from 1 to {MAX_USES_MAX:,}, or leave it empty."
    if errors:
        raise ValidationError(errors)
    try:
        with cells.atomic():
            made = DiscountCode.objects.create(
                code=text,
                kind=kind,
                percent_off=percent_off,
                amount_off=amount_off,
                currency=cur,
                all_products=not products,
                starts_at=starts_at,
                ends_at=ends_at,
                max_uses=max_uses,
                once_per_email=once_per_email,
            )
            if products:
                made.products.set(products)
    except IntegrityError:  # the same code created at the same instant
        raise ValidationError(
            {"code": "This store already has this code (codes ignore upper and lower case)."}
        ) from None
    return made


def discount_code_deactivate(*, code: DiscountCode) -> DiscountCode:
    """No new checkouts with it; checkouts already open with it are still honoured."""
    DiscountCode.objects.filter(pk=code.pk).update(active=False)
    code.active = False
    return code
