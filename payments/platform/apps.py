from __future__ import annotations

from django.apps import AppConfig


class PaymentsPlatformConfig(AppConfig):
    """The public-schema half of payments: account map, webhook inbox, fee ledger."""

    name = "payments.platform"
    label = "payments_platform"
    verbose_name = "Payments (platform)"
