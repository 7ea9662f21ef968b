"""The platform fee: percent + fixed, in integer minor units.

Rule (one, documented): fee = round_half_up(price × percent / 100) + fixed, then clamped
to 0 ≤ fee ≤ price. Rounding is to the currency's minor unit (cents; whole yen). The
fixed part is in minor units; zero-decimal currencies have their own fixed amount
(`PLATFORM_FEE_FIXED_OVERRIDES`, e.g. `jpy=50`). A store's override (set by an admin)
replaces the platform's percent and/or fixed part.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings


@dataclass(frozen=True)
class FeeRule:
    percent: Decimal
    fixed: int

    def fee_for(self, amount: int) -> int:
        if amount <= 0:
            return 0
        variable = (Decimal(amount) * self.percent / Decimal(100)).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
        return max(0, min(amount, int(variable) + self.fixed))


def fee_rule(*, currency: str, store_percent: Decimal | None, store_fixed: int | None) -> FeeRule:
    overrides: dict[str, int] = settings.PLATFORM_FEE_FIXED_OVERRIDES
    fixed = overrides.get(currency.lower(), settings.PLATFORM_FEE_FIXED)
    return FeeRule(
        percent=Decimal(
            store_percent if store_percent is not None else settings.PLATFORM_FEE_PERCENT
        ),
        fixed=int(store_fixed if store_fixed is not None else fixed),
    )
