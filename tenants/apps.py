from __future__ import annotations

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Stores"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (cache invalidation on store/domain change)
