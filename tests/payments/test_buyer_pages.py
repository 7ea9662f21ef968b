"""The thank-you page (paid, and refunded) gives the seller's contact when there is one."""

from __future__ import annotations

from payments.models import Purchase
from tenants.models import Store
from tests.conftest import store_client
from tests.factories import in_schema, product_with_file, purchase
from tests.markup import parse


def _main_text(content: bytes) -> str:
    main = next(e for e in parse(content) if e.tag == "main")
    return " ".join(main.text.split())


def test_the_thank_you_page_gives_the_sellers_contact(alice_store):
    Store.objects.filter(pk=alice_store.pk).update(support_email="help@alice.example")
    alice_store.refresh_from_db()
    bought = purchase(alice_store, product_with_file(alice_store))
    response = store_client(alice_store).get(f"/thanks/?session_id={bought.checkout_session_id}")
    assert response.status_code == 200
    text = _main_text(response.content)
    assert "Download PDF" in text
    assert "Questions about your order? Write to help@alice.example." in text


def test_the_refunded_page_gives_the_sellers_contact(alice_store):
    Store.objects.filter(pk=alice_store.pk).update(support_email="help@alice.example")
    alice_store.refresh_from_db()
    bought = purchase(alice_store, product_with_file(alice_store))
    with in_schema(alice_store):
        Purchase.objects.filter(pk=bought.pk).update(status=Purchase.Status.REFUNDED)
    response = store_client(alice_store).get(f"/thanks/?session_id={bought.checkout_session_id}")
    text = _main_text(response.content)
    assert "This purchase is no longer active" in text
    assert "Write to the seller at help@alice.example." in text
    assert text.count("help@alice.example") == 1


def test_no_support_email_no_contact_line(alice_store):
    bought = purchase(alice_store, product_with_file(alice_store))
    text = _main_text(
        store_client(alice_store).get(f"/thanks/?session_id={bought.checkout_session_id}").content
    )
    assert "Write to" not in text
