"""Pay what you want: a product's minimum and suggested price, the amount a buyer typed,
and how a discount code combines with them.

- A pay-what-you-want product's `price` is its minimum: at least Stripe's minimum charge
  for the currency (and for the currency the seller's account settles in), or 0 for
  "free, paying is optional". `suggested_price` (optional, at least the minimum) fills
  the amount field on the product page.
- The buyer types an amount (read like a seller's price: "12.50", "12,50", "1 250"; 0
  means nothing). It must be at least the minimum, and either 0 (only when the minimum
  is 0: a free order, no Stripe) or at least Stripe's minimum charge, and at most the
  product's cap (`pwyw_cap`): a typo of three zeros should not charge a card $5,000.
- The platform fee is computed on the amount paid (payments.services.checkout_plan).

Codes and pay what you want (choice, issue #12): **a code lowers the minimum, never the
amount typed.** The buyer pays exactly the amount they typed; a 25 % code on a product
with a $8.00 minimum lets them type as little as $6.00. A code the buyer did not need
(they typed the full minimum or more) is not used at all: no limited use is taken, and
the sale records no code. When it was needed, the sale records the code, and as its
discount what the buyer paid under the regular minimum (minimum − amount), so "list
price − discount = amount paid" holds on the receipt, the ledger and the CSV as for a
fixed price. Why: a percentage off an amount the buyer chooses is meaningless (they could
type the discounted figure themselves), while a lower minimum is what a seller sharing a
code wants to offer.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from .discounts import Quote
from .models import Product
from .money import MoneyError, currency, format_amount, read_amount, to_decimal_string

# The most a buyer may pay for one pay-what-you-want product unless the seller's own
# prices call for more: ten times the suggested price or the minimum, never above the
# platform's ceiling (catalog.money.Currency.maximum, within Stripe's maximum charge).
PWYW_CAP: dict[str, int] = {
    "usd": 1_000_00, "eur": 1_000_00, "gbp": 1_000_00, "cad": 1_000_00, "aud": 1_000_00,
    "jpy": 150_000,
}  # fmt: skip
CAP_MULTIPLE = 10
AMOUNT_MAX_CHARS = 32


def pwyw_cap(product: Product) -> int:
    cur = currency(product.currency)
    base = PWYW_CAP.get(cur.code, cur.maximum)
    own = CAP_MULTIPLE * max(product.suggested_price or 0, product.price)
    return min(cur.maximum, max(base, own))


def pwyw_minimum(product: Product, quote: Quote | None = None) -> int:
    """The least the buyer may pay: the minimum, lowered by a code (its quote is computed
    on the minimum, see catalog.discounts.discount_quote)."""
    return quote.amount if quote is not None else product.price


@dataclass(frozen=True)
class PwywOffer:
    """What a buyer of a pay-what-you-want product pays, and the code when it was needed."""

    amount: int
    list_price: int  # the product's regular minimum
    quote: Quote | None = None

    @property
    def discount(self) -> int:
        return max(0, self.list_price - self.amount) if self.quote is not None else 0

    @property
    def is_free(self) -> bool:
        return self.amount == 0


def pwyw_offer(
    *, product: Product, typed: str, lowest_charge: int, quote: Quote | None = None
) -> PwywOffer:
    """Read the amount the buyer typed, or a ValidationError (keyed "amount") saying why
    not. `lowest_charge` is Stripe's minimum charge for the seller's account
    (catalog.money.minimum_charge); `quote` the buyer's valid code, if any."""
    code = product.currency
    text = (typed or "").strip()
    if not text:
        raise ValidationError({"amount": "Enter the amount you want to pay."})
    if len(text) > AMOUNT_MAX_CHARS:
        raise ValidationError({"amount": "That is not an amount we can read."})
    try:
        amount = read_amount(text, code)
    except MoneyError as exc:
        message = str(exc).replace(" prices take ", " amounts take ")
        raise ValidationError({"amount": message}) from None
    minimum = pwyw_minimum(product, quote)
    cap = pwyw_cap(product)
    if amount < minimum:
        if quote is not None and quote.discount:
            message = (
                f"With code {quote.code.code.upper()} the minimum is "
                f"{format_amount(minimum, code)}."
            )
        else:
            message = f"The minimum for this product is {format_amount(minimum, code)}."
        raise ValidationError({"amount": message})
    if 0 < amount < lowest_charge:
        lowest = format_amount(lowest_charge, code)
        if minimum == 0:
            message = (
                f"Card payments start at {lowest}: enter {lowest} or more, or 0 to get it free."
            )
        else:
            message = f"Card payments start at {lowest}: enter {lowest} or more."
        raise ValidationError({"amount": message})
    if amount > cap:
        raise ValidationError(
            {
                "amount": f"The most you can pay here is {format_amount(cap, code)}. "
                "Check the amount (to pay more, write to the seller)."
            }
        )
    needed = quote if quote is not None and amount < product.price else None
    return PwywOffer(amount=amount, list_price=product.price, quote=needed)


def pwyw_context(
    product: Product,
    quote: Quote | None = None,
    *,
    amount_value: str | None = None,
    amount_error: str = "",
    email_value: str = "",
    email_error: str = "",
) -> dict[str, object]:
    """What the buy box of a pay-what-you-want product shows (payments/_pwyw_fields.html):
    the minimum (with a code, lowered), and the amount field's text — the suggested price,
    or, after a refusal, exactly what the buyer typed."""
    if not product.pay_what_you_want:
        return {}
    minimum = pwyw_minimum(product, quote)
    cur = currency(product.currency)
    if amount_value is None:
        amount_value = product.suggested_text or (product.price_text if minimum else "")
    return {
        "pwyw_min": minimum,
        "pwyw_min_display": format_amount(minimum, cur.code),
        "pwyw_min_text": to_decimal_string(minimum, cur.code),
        "currency_symbol": cur.symbol,
        "amount_value": amount_value,
        "amount_error": amount_error,
        "email_value": email_value,
        "email_error": email_error,
    }
