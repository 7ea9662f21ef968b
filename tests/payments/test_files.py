"""A product's several files, their versions, and new versions given to past buyers.

Alice sells a workbook with its answers. Bob bought it; later buyers get what is current
when they pay; Bob keeps the version he paid for unless Alice gives him the new one.
"""

from __future__ import annotations

import hashlib
import importlib
import random
import threading

from django.core import mail
from django.core.files.base import ContentFile
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from catalog.models import FileSlot, Product, ProductFile
from catalog.services import product_file_replace
from catalog.storage import private_storage
from payments.models import DownloadGrant, Purchase, StampedCopy, UpdateNotice, UpdateOptOut
from payments.services import (
    download_links,
    download_open,
    download_token_for,
    grant_files,
    purchases_with_files,
    update_notices_send,
    version_give,
    version_notice_counts,
)
from tests.catalog.pdfs import good_pdf
from tests.conftest import store_client
from tests.factories import add_file, in_schema, pdf_bytes, product_with_file, purchase


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _links(store, bought: Purchase):
    with in_schema(store):
        fresh = purchases_with_files(Purchase.objects.all()).get(pk=bought.pk)
        return download_links(fresh, store=store)


def _new_version(store, product, slot, data: bytes, *, give: bool):
    with in_schema(store):
        return product_file_replace(
            product=product,
            slot=slot,
            file=ContentFile(data, name="workbook-v2.pdf"),
            give_to_past_buyers=give,
        )


# --- Two files, two links, two limits -------------------------------------------------------


def test_two_files_have_their_own_links_counts_and_limits(alice_store):
    workbook = pdf_bytes(3)
    answers = good_pdf(pages=2, title="Answers")
    product = product_with_file(alice_store, title="Workbook", data=workbook, download_limit=2)
    add_file(alice_store, product, name="Answers", data=answers, download_limit=1)
    bought = purchase(alice_store, product)

    links = _links(alice_store, bought)
    assert [(link.name, link.grant.download_limit) for link in links] == [
        ("Workbook", 2),
        ("Answers", 1),
    ]
    assert links[0].url != links[1].url
    client = store_client(alice_store)
    assert _body(client.get(_path(links[1].url))) == answers
    # The answers' one download is used: its link says so, the workbook's still works.
    assert client.get(_path(links[1].url)).status_code == 429
    assert _body(client.get(_path(links[0].url))) == workbook
    assert _body(client.get(_path(links[0].url))) == workbook
    assert client.get(_path(links[0].url)).status_code == 429
    with in_schema(alice_store):
        counts = dict(
            DownloadGrant.objects.filter(purchase=bought).values_list(
                "slot__name", "download_count"
            )
        )
    assert counts == {"Workbook": 2, "Answers": 1}


def test_the_thank_you_page_library_and_receipt_list_each_file(
    alice_store, django_capture_on_commit_callbacks
):
    product = product_with_file(alice_store, title="Workbook")
    add_file(alice_store, product, name="Answers")
    with django_capture_on_commit_callbacks(execute=True):
        bought = purchase(alice_store, product, email="bob@example.com")
    links = _links(alice_store, bought)

    client = store_client(alice_store)
    page = client.get(f"/thanks/?session_id={bought.checkout_session_id}").content.decode()
    assert all(link.url in page for link in links) and "Answers" in page
    from payments.services import library_link_create

    with in_schema(alice_store):
        token = library_link_create(email="bob@example.com")
    library = client.get(f"/library/{token}/").content.decode()
    assert all(link.url in library for link in links)
    receipt = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    html = receipt.alternatives[0][0]
    for link in links:
        assert f"{link.name}: {link.url}" in receipt.body and link.url in html


def test_a_download_of_either_file_is_one_statement(alice_store):
    product = product_with_file(alice_store)
    add_file(alice_store, product, name="Answers")
    bought = purchase(alice_store, product)
    client = store_client(alice_store)
    client.get("/")  # warm the host cache
    for link in _links(alice_store, bought):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(_path(link.url)).status_code == 200
        statements = [
            q["sql"]
            for q in queries.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "SET"))
        ]
        # check, count, log and the file to deliver (payments.services._OPEN_FAST)
        assert len(statements) == 1, statements


def test_a_stamped_file_download_is_one_statement_too(
    alice_store, django_capture_on_commit_callbacks
):
    product = product_with_file(alice_store, stamping=True)
    add_file(alice_store, product, name="Answers")
    with django_capture_on_commit_callbacks(execute=True):
        bought = purchase(alice_store, product, email="bob@example.com")
    token = _links(alice_store, bought)[1].url.rstrip("/").rsplit("/", 1)[1]
    with in_schema(alice_store):
        assert StampedCopy.objects.filter(purchase=bought, state="ready").count() == 2
        with CaptureQueriesContext(connection) as queries:
            decision = download_open(token=token, ip="203.0.113.9", user_agent="t")
        assert decision.allowed and decision.file_name.startswith("stamped/")
        assert len(queries.captured_queries) == 1, [q["sql"] for q in queries.captured_queries]
        with private_storage().open(decision.file_name, "rb") as handle:
            from pypdf import PdfReader

            text = PdfReader(handle).pages[0].extract_text()
    assert "Licensed to bob@example.com" in text


def test_grant_files_is_idempotent(alice_store):
    product = product_with_file(alice_store)
    answers = add_file(alice_store, product, name="Answers")
    bought = purchase(alice_store, product)
    with in_schema(alice_store):
        before = sorted(DownloadGrant.objects.values_list("pk", "token_hash"))
        again = grant_files(store=alice_store, purchase=bought, slots=[answers, answers.pk])
        assert [g.slot_id for g in again] == [answers.pk]
        assert sorted(DownloadGrant.objects.values_list("pk", "token_hash")) == before
        assert DownloadGrant.objects.filter(purchase=bought).count() == 2


# --- Versions -----------------------------------------------------------------------------------


def test_a_purchase_keeps_its_version_while_a_new_one_is_published(alice_store):
    v1, v2 = pdf_bytes(3), good_pdf(pages=4, title="Second edition")
    product = product_with_file(alice_store, title="Workbook", data=v1)
    with in_schema(alice_store):
        slot = FileSlot.objects.get(product=product)
    bob = purchase(alice_store, product, email="bob@example.com")
    mail.outbox.clear()
    _new_version(alice_store, product, slot, v2, give=False)
    carol = purchase(alice_store, product, email="carol@example.com")

    client = store_client(alice_store)
    assert _body(client.get(_path(_links(alice_store, bob)[0].url))) == v1
    assert _body(client.get(_path(_links(alice_store, carol)[0].url))) == v2
    with in_schema(alice_store):
        assert UpdateNotice.objects.count() == 0
        product.refresh_from_db()
        assert product.sha256 == hashlib.sha256(v2).hexdigest()  # the storefront's file
    assert not [m for m in mail.outbox if m.to == ["bob@example.com"]]


def test_a_version_given_to_past_buyers_reaches_each_once_with_a_link_that_works(
    alice_store, django_capture_on_commit_callbacks
):
    v1, v2 = pdf_bytes(3), good_pdf(pages=4, title="Second edition")
    product = product_with_file(alice_store, title="Workbook", data=v1, download_limit=1)
    with in_schema(alice_store):
        slot = FileSlot.objects.get(product=product)
    bob_first = purchase(alice_store, product, email="bob@example.com")
    bob_again = purchase(alice_store, product, email="bob@example.com")
    dave = purchase(alice_store, product, email="dave@example.com")
    client = store_client(alice_store)
    assert _body(client.get(_path(_links(alice_store, dave)[0].url))) == v1  # limit used
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        version = _new_version(alice_store, product, slot, v2, give=True)

    updates = [m for m in mail.outbox if "new version" in m.subject]
    assert sorted(m.to[0] for m in updates) == ["bob@example.com", "dave@example.com"]
    to_dave = next(m for m in updates if m.to == ["dave@example.com"])
    dave_url = _links(alice_store, dave)[0].url
    assert dave_url in to_dave.body and dave_url in to_dave.alternatives[0][0]
    # Dave's link works again (a new version starts a new count) and serves the new file.
    assert _body(client.get(_path(dave_url))) == v2
    to_bob = next(m for m in updates if m.to == ["bob@example.com"])
    assert _links(alice_store, bob_again)[0].url in to_bob.body  # his newest purchase
    assert _body(client.get(_path(_links(alice_store, bob_first)[0].url))) == v2
    with in_schema(alice_store):
        assert version_notice_counts([version.pk]) == {
            version.pk: {"sent": 2, "queued": 0, "skipped": 0}
        }

    # The unsubscribe link works without a login, on this store: no more update emails.
    unsubscribe = to_dave.extra_headers["List-Unsubscribe"].strip("<>")
    assert unsubscribe in to_dave.body
    assert to_dave.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    anonymous = store_client(alice_store)
    asked = anonymous.get(_path(unsubscribe))
    assert asked.status_code == 200 and b"dave@example.com" in asked.content
    with in_schema(alice_store):
        assert not UpdateOptOut.objects.exists()  # a GET (a link scanner) changes nothing
    assert anonymous.post(_path(unsubscribe)).status_code == 200
    with in_schema(alice_store):
        assert list(UpdateOptOut.objects.values_list("email", flat=True)) == ["dave@example.com"]
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        third = _new_version(alice_store, product, slot, good_pdf(pages=5), give=True)
    assert sorted(m.to[0] for m in mail.outbox if "new version" in m.subject) == ["bob@example.com"]
    with in_schema(alice_store):
        assert version_notice_counts([third.pk])[third.pk] == {
            "sent": 1,
            "queued": 0,
            "skipped": 1,
        }


def test_a_refunded_buyer_gets_no_update(alice_store, django_capture_on_commit_callbacks):
    from payments.services import charge_state_record

    product = product_with_file(alice_store)
    with in_schema(alice_store):
        slot = FileSlot.objects.get(product=product)
    refunded = purchase(alice_store, product, email="erin@example.com")
    with in_schema(alice_store):
        charge_state_record(payment_intent_id=refunded.payment_intent_id, refunded=True)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _new_version(alice_store, product, slot, good_pdf(pages=2), give=True)
    assert not [m for m in mail.outbox if "new version" in m.subject]


def test_the_seller_sees_how_many_update_emails_went_out(
    alice, alice_store, django_capture_on_commit_callbacks
):
    product = product_with_file(alice_store, title="Workbook")
    with in_schema(alice_store):
        slot = FileSlot.objects.get(product=product)
    for n in range(3):
        purchase(alice_store, product, email=f"buyer{n}@example.com")
    owner = store_client(alice_store, alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(
            f"/dashboard/products/{product.uid}/files/{slot.uid}/version/",
            {"file": ContentFile(good_pdf(pages=2), name="v2.pdf"), "give_to_past_buyers": "on"},
        )
    assert response.status_code == 302
    page = owner.get(f"/dashboard/products/{product.uid}/").content.decode()
    assert "3 emails sent" in page


# --- Concurrent senders -------------------------------------------------------------------------


def test_the_update_email_goes_once_to_each_past_buyer_under_concurrent_sends(committed_store):
    """Eight threads, each with its own PostgreSQL connection, send the same notices at
    once in different orders: every buyer gets exactly one email."""
    store = committed_store
    product = product_with_file(store, title="Workbook")
    emails = [f"buyer{n}@example.com" for n in range(24)]
    for email in emails:
        purchase(store, product, email=email)
    with in_schema(store):
        slot = FileSlot.objects.get(product=product)
    version = _new_version(store, product, slot, good_pdf(pages=2), give=False)
    with in_schema(store):
        ProductFile.objects.filter(pk=version.pk).update(given_to_past_buyers=True)
        ids = version_give(version_id=version.pk)
    assert len(ids) == len(emails)
    mail.outbox.clear()

    start = threading.Barrier(8)
    sent: list[int] = []
    errors: list[BaseException] = []

    def sender(seed: int) -> None:
        order = ids[:]
        random.Random(seed).shuffle(order)
        try:
            with in_schema(store):
                start.wait(timeout=30)
                sent.append(update_notices_send(store=store, notice_ids=order))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(sent) == len(emails), sent
    received = sorted(m.to[0] for m in mail.outbox if "new version" in m.subject)
    assert received == sorted(emails)
    with in_schema(store):
        assert UpdateNotice.objects.filter(sent_at__isnull=False).count() == len(emails)


# --- Existing data ------------------------------------------------------------------------------


def test_the_data_migration_moves_a_single_file_product_and_its_grants_to_a_first_file(
    alice_store, django_capture_on_commit_callbacks
):
    """A product, purchase, grant and stamped copy as they were before files had slots
    (written by hand here), then both data migrations, run in the store's schema."""
    from django.apps import apps

    data = pdf_bytes(3)
    with in_schema(alice_store):
        name = private_storage().save("products/legacy.pdf", ContentFile(data))
        product = Product.objects.create(
            title="Legacy", slug="legacy", price=900, status="published", file=name,
            file_name="Legacy Guide.pdf", page_count=3, file_size=len(data),
            sha256=hashlib.sha256(data).hexdigest(), download_limit=4,
        )  # fmt: skip
        old = ProductFile.objects.create(
            product=product, file="products/older.pdf", file_name="old.pdf", page_count=1,
            file_size=1, sha256="0" * 64,
        )  # fmt: skip
        ProductFile.objects.filter(pk=old.pk).update(created_at=old.created_at.replace(year=2025))
        current = ProductFile.objects.create(
            product=product, file=name, file_name="Legacy Guide.pdf", page_count=3,
            file_size=len(data), sha256=product.sha256,
        )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        bought = purchase(alice_store, product, email="bob@example.com")
    with in_schema(alice_store):
        grant = DownloadGrant.objects.get(purchase=bought)
        assert grant.slot_id is None  # the product had no file slot: a legacy grant
        token = download_token_for(bought, store=alice_store)
        importlib.import_module("catalog.migrations.0006_file_slots_data").forwards(apps, None)
        importlib.import_module("payments.migrations.0006_grants_per_file_data").forwards(
            apps, None
        )
        slot = FileSlot.objects.get(product=product)
        assert (slot.name, slot.position, slot.download_limit, slot.current_id) == (
            "Legacy Guide",
            0,
            4,
            current.pk,
        )
        assert set(
            ProductFile.objects.filter(product=product).values_list("slot_id", flat=True)
        ) == {slot.pk}
        grant.refresh_from_db()
        assert (grant.slot_id, grant.version_id) == (slot.pk, current.pk)
    response = store_client(alice_store).get(f"/d/{token}/")
    assert _body(response) == data
