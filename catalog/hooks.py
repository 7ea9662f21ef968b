"""Figures the catalog shows but does not own, supplied by apps above it.

payments sits above catalog (DESIGN.md: dependencies flow one way), so catalog cannot ask
it for sales. Instead payments registers a provider at start-up, in its AppConfig.ready():

    from catalog.hooks import register_product_stats
    register_product_stats(purchase_stats_by_product)

A provider takes product ids (in the active store's schema) and returns, per product id
that has sales, ``{"sales": <int>, "revenue": <int, minor units in the product's
currency>}``. Without a provider every product shows no sales, and deleting relies on
the purchases' PROTECT foreign key as the backstop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypedDict


class ProductStats(TypedDict):
    sales: int
    revenue: int


StatsProvider = Callable[[list[int]], Mapping[int, ProductStats]]

_provider: StatsProvider | None = None


def register_product_stats(provider: StatsProvider | None) -> StatsProvider | None:
    """Install the provider (None removes it); returns the one it replaces."""
    global _provider
    previous, _provider = _provider, provider
    return previous


def product_stats(product_ids: Iterable[int]) -> dict[int, ProductStats]:
    ids = list(product_ids)
    if _provider is None or not ids:
        return {}
    return dict(_provider(ids))


def product_has_sales(product_id: int) -> bool:
    return bool(product_stats([product_id]).get(product_id, {}).get("sales"))


# --- The currency the store's payment account settles in ---------------------------------
# payments knows it (the connected Stripe account's `default_currency`); prices are checked
# against Stripe's minimum for it (catalog.money.validate_minimum). The provider answers
# for the store whose schema is active, or None when it is not known (not connected yet).

SettlementProvider = Callable[[], str | None]
_settlement: SettlementProvider | None = None


def register_settlement_currency(provider: SettlementProvider | None) -> SettlementProvider | None:
    global _settlement
    previous, _settlement = _settlement, provider
    return previous


def settlement_currency() -> str | None:
    return _settlement() if _settlement is not None else None


def product_currency_default() -> str:
    """A new product's currency: the one the store's account settles in, when products
    can be priced in it (else USD)."""
    from .money import CURRENCIES

    settles_in = settlement_currency()
    return settles_in if settles_in in CURRENCIES else "usd"
