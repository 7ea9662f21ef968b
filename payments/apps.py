from __future__ import annotations

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments (store schema)"

    def ready(self) -> None:
        # The catalog's product list shows sales; payments supplies them (catalog.hooks).
        from catalog.hooks import register_product_stats

        from .queries import purchase_stats_by_product

        register_product_stats(purchase_stats_by_product)

        # A new version a seller gives to past buyers: payments moves grants, sends mail.
        from catalog.hooks import register_version_given, register_version_notices

        from .services import version_given, version_notice_counts

        register_version_given(version_given)
        register_version_notices(version_notice_counts)

        # The webhook flow keeps its Celery tasks beside its view and handlers.
        from . import webhooks  # noqa: F401
