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


# --- A new version given to past buyers --------------------------------------------------
# The seller chose, uploading a new version of a file, that past buyers get it. payments
# moves their grants to it and emails each buyer once; the hook is called inside the
# upload's transaction with the version's id (payments defers its work to the commit).

VersionHandler = Callable[[int], None]
_version_handler: VersionHandler | None = None


def register_version_given(handler: VersionHandler | None) -> VersionHandler | None:
    global _version_handler
    previous, _version_handler = _version_handler, handler
    return previous


def version_given_to_past_buyers(version_id: int) -> None:
    if _version_handler is None:
        raise RuntimeError("No app delivers new versions to past buyers (payments not loaded).")
    _version_handler(version_id)


NoticeCounts = Callable[[list[int]], Mapping[int, Mapping[str, int]]]
_notice_counts: NoticeCounts | None = None


def register_version_notices(provider: NoticeCounts | None) -> NoticeCounts | None:
    """Install who counts update emails per version ({"sent", "queued", "skipped"})."""
    global _notice_counts
    previous, _notice_counts = _notice_counts, provider
    return previous


def version_notices(version_ids: Iterable[int]) -> dict[int, Mapping[str, int]]:
    ids = list(version_ids)
    if _notice_counts is None or not ids:
        return {}
    return dict(_notice_counts(ids))
