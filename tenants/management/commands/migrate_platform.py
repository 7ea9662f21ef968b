from __future__ import annotations

import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from tenants import cells
from tenants.models import Store
from tenants.provisioning import template_refresh
from tenants.schema_migrations import Report, cells_migrate


class Command(BaseCommand):
    help = (
        "Migrate the public schema, every store schema that is behind, and the template "
        "schema new stores are built from. Run on every deploy (the release phase). Stores "
        "already at the head are not opened; see tenants.schema_migrations."
    )
    # A deploy runs `check --deploy` on its own; importing every URLconf and view here would
    # only add start-up time to every release.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--workers",
            type=int,
            default=4,
            help="Connections (or processes, for Django's migrate) migrating stores at once.",
        )
        parser.add_argument(
            "--verify",
            action="store_true",
            help="Recompute every store's migrations marker from its rows first (slower).",
        )
        parser.add_argument(
            "--executor",
            default="platform",
            choices=["platform", "standard", "multiprocessing"],
            help="platform (default): markers and bulk deltas. standard|multiprocessing: "
            "django-tenants' executors over every store, as before.",
        )

    def handle(self, *args, workers: int, verify: bool, executor: str, verbosity: int, **options):
        started = time.monotonic()
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)
        if executor != "platform":
            call_command(
                "migrate_schemas",
                tenant=True,
                executor=executor,
                interactive=False,
                verbosity=verbosity,
            )
            template_refresh(verbosity=verbosity)
            self.stdout.write(f"Platform migrated in {time.monotonic() - started:.2f}s")
            return

        def progress(cell, p) -> None:
            if verbosity >= 1:
                self.stdout.write(f"  [{cell}] {p}" if several else f"  {p}")

        several = len(cells.cells()) > 1
        reports = cells_migrate(workers=workers, verify=verify, progress=progress)
        failed: dict[str, str] = {}
        for cell, report in reports.items():
            self._report(cell if several else "", report)
            failed.update(report.failed)
        self.stdout.write(f"Platform migrated in {time.monotonic() - started:.2f}s")
        if failed:
            subdomains = dict(
                Store.objects.filter(schema_name__in=failed).values_list("schema_name", "subdomain")
            )
            for schema, error in sorted(failed.items()):
                self.stderr.write(f"  FAILED {subdomains.get(schema, '?')} ({schema}): {error}")
            raise CommandError(
                f"{len(failed)} stores could not be migrated (listed above); the others "
                "are at the head. Fix them and run migrate_platform again."
            )

    def _report(self, cell: str, report: Report) -> None:
        for note in report.notes:
            self.stdout.write(f"  {note}")
        migrated = report.bulk + report.real
        self.stdout.write(
            (f"Cell {cell}: " if cell else "Stores: ") + f"{report.stores} stores, "
            f"{report.at_head} already at the head, {migrated} migrated "
            f"({report.bulk} from the recorded delta, {report.real} by Django's migrate), "
            f"{len(report.failed)} failed"
            + ("; template rebuilt" if report.blueprint_refreshed else "")
        )
