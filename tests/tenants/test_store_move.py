"""A store moves between two cells (two private PostgreSQL clusters) while a buyer
downloads in a loop: no request fails, every download is counted once, the rows are the
same on both sides, the sequences go on, and the store works in its new cell.

The data is committed (replication reads the WAL, and the buyer's thread has connections
of its own), so the store is uniquely named and removed at the end.
"""

from __future__ import annotations

import io
import threading

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import Client

from catalog.models import Product
from payments.models import DownloadGrant, Purchase
from payments.platform.models import DeferredDownload, FeeLedgerEntry
from payments.services import download_token_for
from tenants import cells
from tenants.models import Store
from tenants.services import store_create
from tests.conftest import make_seller, store_client
from tests.factories import product_with_file, purchase
from tests.live import unique

pytestmark = pytest.mark.skipif(
    "b" not in cells.cells(), reason="needs a second cell (devtools.devstack test starts cell b)"
)


def raw(cell: str):
    conn = psycopg2.connect(**connections[cells.alias(cell)].get_connection_params())
    conn.autocommit = True
    return conn


def table_rows(cell: str, schema: str) -> dict[str, set[tuple]]:
    conn = raw(cell)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", [schema]
            )
            names = [r[0] for r in cur.fetchall()]
            found = {}
            for name in names:
                cur.execute(f'SELECT * FROM "{schema}"."{name}"')
                found[name] = {tuple(map(str, row)) for row in cur.fetchall()}
        return found
    finally:
        conn.close()


class Buyer(threading.Thread):
    """Downloads the purchase and reads the storefront in a loop until told to stop."""

    def __init__(self, host: str, token: str) -> None:
        super().__init__(daemon=True)
        self.host, self.token = host, token
        self.stop = threading.Event()
        self.downloads = 0
        self.pages = 0
        self.errors: list[str] = []

    def run(self) -> None:
        client = Client(HTTP_HOST=self.host)
        try:
            while not self.stop.is_set():
                response = client.get(f"/d/{self.token}/")
                if response.status_code == 200:
                    if response.streaming:
                        b"".join(response.streaming_content)
                    self.downloads += 1
                else:
                    self.errors.append(f"download {response.status_code}")
                page = client.get("/?live")
                if page.status_code == 200 and b"Atlas of Moves" in page.content:
                    self.pages += 1
                else:
                    self.errors.append(f"storefront {page.status_code}")
        except Exception as exc:
            self.errors.append(repr(exc))
        finally:
            connections.close_all()


def move(schema: str, to: str, buyer: Buyer) -> str:
    """Run move_store while the buyer goes on; the buyer's counts before/after must grow."""
    out = io.StringIO()
    before = buyer.downloads
    call_command("move_store", schema, "--to", to, "--grace", "0.5", stdout=out)
    print(out.getvalue())  # the progress, shown with -s or on failure
    # The buyer keeps going in the new cell.
    deadline = buyer.downloads + 3
    while buyer.downloads < deadline and buyer.is_alive():
        threading.Event().wait(0.05)
    assert buyer.downloads > before
    return out.getvalue()


def downloads_counted(store: Store) -> int:
    with cells.in_store(Store.objects.get(pk=store.pk)):
        return DownloadGrant.objects.get().download_count


def test_a_store_moves_to_another_cell_and_back_while_a_buyer_downloads(
    django_db_setup, django_db_blocker
):
    with django_db_blocker.unblock():
        owner = make_seller(f"{unique('mover')}@example.com")
        store = store_create(
            owner=owner, name="Mover Maps", subdomain=unique("mover"), cell="default"
        )
        schema = store.schema_name
        try:
            product = product_with_file(store, title="Atlas of Moves", price=1500)
            bought = purchase(store, product, email="buyer@example.com")
            with cells.in_store(store):
                token = download_token_for(
                    Purchase.objects.prefetch_related("grants").get(pk=bought.pk), store=store
                )
            seller = store_client(store, owner)
            assert seller.get("/dashboard/").status_code == 200

            buyer = Buyer(store.host, token)
            buyer.start()
            while buyer.downloads < 3 and buyer.is_alive():
                threading.Event().wait(0.05)

            # default -> b
            progress = move(schema, "b", buyer)
            assert "tables copied" in progress and "flipped to 'b'" in progress, progress
            store.refresh_from_db()
            assert (store.cell, store.moving_to) == ("b", "")
            old, new = table_rows("default", schema), table_rows("b", schema)
            assert set(old) == set(new) and len(new) > 5
            for table in old:
                if table in ("payments_downloadgrant", "payments_downloadlog"):
                    continue  # the buyer goes on downloading in the new cell
                assert old[table] == new[table], table
            assert old["payments_downloadlog"] <= new["payments_downloadlog"]
            # The old copy refuses writes (nothing written there could be lost unseen).
            conn = raw("default")
            with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction), conn.cursor() as cur:
                cur.execute(f'UPDATE "{schema}".catalog_product SET price = 1')
            conn.close()

            # Sequences went on: new rows in the new cell take new ids.
            with cells.in_store(store):
                newer = Product.objects.create(title="Second", slug="second", price=900)
            assert newer.pk > max(int(row[0]) for row in old["catalog_product"])
            assert seller.get("/dashboard/").status_code == 200
            assert Client(HTTP_HOST=store.host).get("/").status_code == 200

            # Its copy must go before it can come back.
            with pytest.raises(CommandError, match="already has a schema"):
                call_command("move_store", schema, "--to", "default", stdout=io.StringIO())
            call_command("move_store", schema, "--drop-old", "default", stdout=io.StringIO())
            with pytest.raises(CommandError, match="lives in cell 'b'"):
                call_command("move_store", schema, "--drop-old", "b", stdout=io.StringIO())

            # b -> default, the buyer still downloading.
            progress = move(schema, "default", buyer)
            buyer.stop.set()
            buyer.join(timeout=30)
            assert buyer.errors == []
            store.refresh_from_db()
            assert store.cell == "default"
            call_command("move_store", schema, "--drop-old", "b", stdout=io.StringIO())
            assert table_rows("b", schema) == {}
            # Every download the buyer got was counted once: before, during (deferred) and
            # after each window.
            assert not DeferredDownload.objects.filter(schema_name=schema).exists()
            assert downloads_counted(store) == buyer.downloads
            with cells.in_store(store):
                assert Product.objects.count() == 2
            assert seller.get("/dashboard/").status_code == 200
        finally:
            if "buyer" in locals():
                buyer.stop.set()
                buyer.join(timeout=30)
            store = Store.objects.get(pk=store.pk)
            for cell in cells.cells():
                if cell != store.cell:
                    conn = raw(cell)
                    with conn.cursor() as cur:
                        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                    conn.close()
            FeeLedgerEntry.objects.filter(store=store).delete()
            store.delete(force_drop=True)
            owner.delete()


def test_writes_are_refused_with_a_clear_page_during_the_window_and_reads_go_on(alice_store, alice):
    product = product_with_file(alice_store, title="Window Guide")
    alice_store.moving_to = "b"
    alice_store.save(update_fields=["moving_to"])  # drops the routing cache
    client = store_client(alice_store, alice)
    assert client.get("/").status_code == 200
    assert client.get(f"/p/{product.slug}/").status_code == 200
    refused = client.post(f"/buy/{product.slug}/", {"attempt": "x"})
    assert refused.status_code == 503
    assert refused["Retry-After"] == "30"
    assert b"moving to a new server" in refused.content
    assert b"Nothing you sent was saved" in refused.content


def test_a_download_during_the_window_is_served_and_counted_after_the_move(alice_store, alice):
    from payments.services import downloads_deferred_apply

    product = product_with_file(alice_store, title="Deferred Guide")
    bought = purchase(alice_store, product, email="bob@example.com")
    with cells.in_store(alice_store):
        token = download_token_for(
            Purchase.objects.prefetch_related("grants").get(pk=bought.pk), store=alice_store
        )
    alice_store.moving_to = "b"
    alice_store.save(update_fields=["moving_to"])
    buyer = Client(HTTP_HOST=alice_store.host)
    assert buyer.get(f"/d/{token}/").status_code == 200
    assert DeferredDownload.objects.filter(schema_name=alice_store.schema_name).count() == 1
    assert downloads_counted(alice_store) == 0
    alice_store.moving_to = ""
    alice_store.save(update_fields=["moving_to"])
    assert downloads_deferred_apply(alice_store) == 1
    assert downloads_counted(alice_store) == 1
    assert not DeferredDownload.objects.exists()


def test_a_store_with_a_table_without_a_primary_key_is_not_moved(
    django_db_setup, django_db_blocker
):
    with django_db_blocker.unblock():
        owner = make_seller(f"{unique('nokey')}@example.com")
        store = store_create(owner=owner, name="No Key", subdomain=unique("nokey"), cell="default")
        try:
            conn = raw("default")
            with conn.cursor() as cur:
                cur.execute(f'CREATE TABLE "{store.schema_name}".loose (v text)')
            conn.close()
            with pytest.raises(CommandError, match=r"without a primary key.*loose"):
                call_command("move_store", store.schema_name, "--to", "b", stdout=io.StringIO())
            store.refresh_from_db()
            assert (store.cell, store.moving_to) == ("default", "")
            assert table_rows("b", store.schema_name) == {}
        finally:
            Store.objects.get(pk=store.pk).delete(force_drop=True)
            owner.delete()
