from __future__ import annotations

from django.apps import AppConfig


class PaymentsPlatformConfig(AppConfig):
    """The public-schema half of payments: account map, webhook inbox, fee ledger."""

    name = "payments.platform"
    label = "payments_platform"
    verbose_name = "Payments (platform)"

    def ready(self) -> None:
        # A 403 from Stripe on a store's account means the seller revoked our access:
        # treat it like the deauthorization webhook (which may come later, or never).
        from catalog.hooks import register_settlement_currency
        from payments.stripe_client import on_access_revoked

        from .services import connected_account_access_revoked, settlement_currency_active_store

        on_access_revoked(connected_account_access_revoked)
        # Prices are checked against Stripe's minimum for the account's settlement currency.
        register_settlement_currency(settlement_currency_active_store)
