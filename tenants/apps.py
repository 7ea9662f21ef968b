from __future__ import annotations

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Stores"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from . import signals  # noqa: F401  (cache invalidation on store/domain change)
        from .pooling import connection_check

        # A pooler in transaction mode would mix stores' schemas: refuse it (tenants.pooling).
        connection_created.connect(connection_check, dispatch_uid="tenants.pooling")
