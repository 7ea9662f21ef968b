from __future__ import annotations

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Platform console"

    def ready(self) -> None:
        from tenants.hooks import register_admin_view_recorder

        from .services import console_store_view_record

        # Every page of a store's dashboard an admin looks at goes to the audit log.
        register_admin_view_recorder(console_store_view_record)
