"""Move a store's schema to another cell with logical replication (tenants.moves).

manage.py move_store <schema> --to <cell>        # copy, catch up, flip; progress printed
manage.py move_store <schema> --abort            # undo a move that stopped before its flip
manage.py move_store <schema> --drop-old <cell>  # drop the read-only copy a move left
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tenants import cells
from tenants.models import Store
from tenants.moves import MoveError, old_schema_drop, store_move, store_move_abort


class Command(BaseCommand):
    help = "Move a store to another cell (PostgreSQL logical replication), with progress."

    def add_arguments(self, parser):
        parser.add_argument("schema", help="the store's schema name (st_…)")
        parser.add_argument("--to", help="the cell to move it to (STORE_CELLS, or 'default')")
        parser.add_argument(
            "--grace",
            type=float,
            default=2.0,
            help="seconds between opening the read-only window and locking the source",
        )
        parser.add_argument("--timeout", type=float, default=600.0)
        parser.add_argument("--abort", action="store_true", help="undo an unfinished move")
        parser.add_argument("--drop-old", metavar="CELL", help="drop the copy left in CELL")

    def handle(self, *args, **options):
        store = Store.objects.filter(schema_name=options["schema"]).first()
        if store is None:
            raise CommandError(f"No store with schema {options['schema']!r}.")
        try:
            if options["abort"]:
                store_move_abort(store)
                self.stdout.write(
                    f"{store.schema_name}: move undone; it stays in {cells.cell_of(store)!r}"
                )
                return
            if options["drop_old"]:
                old_schema_drop(store, options["drop_old"])
                self.stdout.write(
                    f"{store.schema_name}: old copy dropped from {options['drop_old']!r}"
                )
                return
            if not options["to"]:
                raise CommandError("Say where: --to <cell>.")
            try:
                cells.alias(options["to"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            figures = store_move(
                store,
                to=options["to"],
                progress=self.stdout.write,
                grace=options["grace"],
                timeout=options["timeout"],
            )
        except MoveError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{store.schema_name} moved to {options['to']!r} in {figures['seconds']:.1f} s "
                f"(read-only {figures['window_seconds']:.1f} s)"
            )
        )
