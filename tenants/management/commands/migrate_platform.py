from __future__ import annotations

import time

from django.core.management import call_command
from django.core.management.base import BaseCommand

from tenants.provisioning import template_refresh


class Command(BaseCommand):
    help = (
        "Migrate the public schema, every store schema, and rebuild the template schema "
        "new stores are cloned from. Run on every deploy (the release phase)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--executor",
            default="standard",
            help="django-tenants migration executor for store schemas (standard|multiprocessing).",
        )

    def handle(self, *args, executor: str, verbosity: int, **options):
        started = time.monotonic()
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)
        call_command(
            "migrate_schemas",
            tenant=True,
            executor=executor,
            interactive=False,
            verbosity=verbosity,
        )
        template_refresh(verbosity=verbosity)
        self.stdout.write(f"Platform migrated in {time.monotonic() - started:.2f}s")
