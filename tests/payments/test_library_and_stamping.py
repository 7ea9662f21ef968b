from __future__ import annotations

import io
import re

from django.core import mail
from pypdf import PdfReader

from payments.models import Purchase, StampedCopy
from payments.services import download_url_for
from tests.conftest import store_client
from tests.factories import in_schema, product_with_file, purchase


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_a_buyer_gets_a_magic_link_listing_their_purchases_with_fresh_links(alice_store):
    first = purchase(
        alice_store, product_with_file(alice_store, title="Moss Guide"), email="bob@example.com"
    )
    purchase(
        alice_store, product_with_file(alice_store, title="Fern Guide"), email="bob@example.com"
    )
    purchase(
        alice_store, product_with_file(alice_store, title="Secret Guide"), email="carol@example.com"
    )
    client = store_client(alice_store)
    response = client.post("/library/", {"email": "Bob@Example.com"})
    assert b"we've emailed you a link" in response.content
    link = re.search(
        r"http://alice\.localhost:8000(/library/[^/\s]+/)", mail.outbox[-1].body
    ).group(1)
    page = client.get(link).content.decode()
    assert "Moss Guide" in page and "Fern Guide" in page and "Secret Guide" not in page
    with in_schema(alice_store):
        fresh = download_url_for(
            Purchase.objects.prefetch_related("grants").get(pk=first.pk), store=alice_store
        )
    assert fresh in page
    assert client.get(_path(fresh)).status_code == 200


def test_an_email_that_never_bought_gets_the_same_answer_and_no_email(alice_store):
    response = store_client(alice_store).post("/library/", {"email": "nobody@example.com"})
    assert b"we've emailed you a link" in response.content
    assert mail.outbox == []


def test_the_library_page_does_the_same_work_for_a_buyer_and_a_stranger(alice_store):
    """The page only queues one task for any well-formed address; whether mail goes out is
    the task's business, so the page's response time says nothing about who bought here."""
    from celery.signals import task_prerun

    purchase(alice_store, product_with_file(alice_store), email="bob@example.com")
    ran: list[tuple[str, tuple]] = []

    def record(sender=None, args=None, **_):
        ran.append((sender.name, tuple(args or ())))

    task_prerun.connect(record)
    try:
        for email in ("bob@example.com", "nobody@example.com"):
            response = store_client(alice_store).post("/library/", {"email": email})
            assert b"we've emailed you a link" in response.content
    finally:
        task_prerun.disconnect(record)
    assert ran == [
        ("payments.tasks.send_library_link", ("bob@example.com",)),
        ("payments.tasks.send_library_link", ("nobody@example.com",)),
    ]
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]


def test_a_library_link_from_alices_store_opens_nothing_on_mallorys(alice_store, mallory_store):
    purchase(alice_store, product_with_file(alice_store), email="bob@example.com")
    store_client(alice_store).post("/library/", {"email": "bob@example.com"})
    link = re.search(
        r"http://alice\.localhost:8000(/library/[^/\s]+/)", mail.outbox[-1].body
    ).group(1)
    response = store_client(mallory_store).get(link)
    assert response.status_code == 410
    assert b"Field Guide" not in response.content


def test_a_stamped_download_waits_for_the_copy_then_carries_the_buyers_email(
    alice_store, django_capture_on_commit_callbacks
):
    product = product_with_file(alice_store, stamping=True)
    bought = purchase(
        alice_store, product, email="bob@example.com"
    )  # no commit: the task has not run
    with in_schema(alice_store):
        url = _path(
            download_url_for(
                Purchase.objects.prefetch_related("grants").get(pk=bought.pk), store=alice_store
            )
        )
        assert StampedCopy.objects.get(purchase=bought).state == StampedCopy.State.PENDING
    client = store_client(alice_store)
    waiting = client.get(url)
    assert waiting.status_code == 202 and b"Preparing your file" in waiting.content
    # The "preparing" page queued the stamping task (eager here): the copy is ready now.
    with in_schema(alice_store):
        assert StampedCopy.objects.get(purchase=bought).state == StampedCopy.State.READY
    response = client.get(url)
    assert response.status_code == 200
    pdf = PdfReader(io.BytesIO(b"".join(response.streaming_content)))
    assert "Licensed to bob@example.com" in pdf.pages[0].extract_text()
    assert "Licensed to" not in pdf.pages[1].extract_text()
    with in_schema(alice_store):
        assert StampedCopy.objects.get(purchase=bought).file.name.startswith("stamped/")


def test_sale_emails_to_the_seller_can_be_turned_off(
    alice_store, django_capture_on_commit_callbacks
):
    from tenants.services import store_update_settings

    store_update_settings(store=alice_store, notify_on_sale=False)
    alice_store.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        purchase(alice_store, product_with_file(alice_store), email="bob@example.com")
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]
