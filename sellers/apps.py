from __future__ import annotations

from django.apps import AppConfig


class SellersConfig(AppConfig):
    name = "sellers"
    verbose_name = "Sellers"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (signing out ends every session)
