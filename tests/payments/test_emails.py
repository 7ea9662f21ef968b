"""What buyers and sellers read in their mailbox (issue #12, "What buyers see")."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from django.conf import settings
from django.core import mail
from django.template.loader import render_to_string

from payments import services
from payments.models import Purchase
from tests.conftest import store_client
from tests.factories import in_schema, product_with_file, purchase
from tests.payments.conftest import connect_store

TRICKY = "Nora's <b>Field</b> Guides & Co"
ATTEMPT = "0123456789abcdef0123456789abcdef"


def _email_text_templates() -> list[Path]:
    root = Path(settings.BASE_DIR)
    return sorted(
        p for p in root.glob("*/templates/**/email/*.txt") if ".venv" not in p.parts
    ) + sorted(root.glob("templates/**/email/*.txt"))


def test_every_plain_text_email_template_turns_autoescape_off():
    found = _email_text_templates()
    assert len(found) >= 4  # receipt, sale, library, suspended refund
    for path in found:
        text = path.read_text()
        assert text.startswith("{% autoescape off %}"), path
        assert text.rstrip().endswith("{% endautoescape %}"), path


def test_plain_text_parts_show_the_store_name_as_typed(
    alice_store, django_capture_on_commit_callbacks
):
    alice_store.name = TRICKY
    alice_store.support_email = "help@nora.example"
    alice_store.save()
    product = product_with_file(alice_store, title="Birds & <i>Bees</i>")
    with django_capture_on_commit_callbacks(execute=True):
        purchase(alice_store, product)
    with in_schema(alice_store):
        services.library_link_send(store=alice_store, email="bob@example.com")
    bodies = {m.subject: m.body for m in mail.outbox}
    assert len(bodies) == 3  # receipt, sale notice, library link
    for subject, body in bodies.items():
        assert "&#x27;" not in body and "&lt;" not in body and "&amp;" not in body, subject
        assert TRICKY in body, subject
    receipt = next(m for m in mail.outbox if m.subject.startswith("Your receipt"))
    assert "Birds & <i>Bees</i>" in receipt.body
    # The HTML part still escapes what the seller typed.
    html = receipt.alternatives[0][0]
    assert "Nora&#x27;s &lt;b&gt;Field&lt;/b&gt; Guides &amp; Co" in html
    assert "<b>Field</b>" not in html

    refund = render_to_string(
        "payments/email/suspended_refund.txt",
        {
            "store": SimpleNamespace(name=TRICKY),
            "incident": SimpleNamespace(checkout_session_id="cs_test_123456789012"),
            "amount": "$12.00",
        },
    )
    assert f"You paid {TRICKY} $12.00" in refund


def test_the_receipt_names_date_product_amount_card_and_replies_to_the_seller(
    alice_store, standin, django_capture_on_commit_callbacks
):
    alice_store.support_email = "help@alice.example"
    alice_store.save()
    connect_store(alice_store, standin)
    product = product_with_file(alice_store, title="Tide Tables", price=1999)
    response = store_client(alice_store).post(f"/buy/{product.slug}/", {"attempt": ATTEMPT})
    session_id = re.search(r"/hosted/checkout/(cs_[A-Za-z0-9_]+)", response["Location"]).group(1)
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com"})
    with django_capture_on_commit_callbacks(execute=True):
        thanks = store_client(alice_store).get(f"/thanks/?session_id={session_id}")
    assert thanks.status_code == 200

    # The app asks for the charge explicitly (real Stripe expands one level per path).
    retrieve = [
        r for r in standin.requests(f"/v1/checkout/sessions/{session_id}") if r["method"] == "GET"
    ][-1]
    assert "payment_intent.latest_charge" in str(retrieve["params"])

    with in_schema(alice_store):
        bought = Purchase.objects.prefetch_related("grants").get()
        url = services.download_url_for(bought, store=alice_store)
    assert (bought.card_brand, bought.card_last4) == ("visa", "4242")
    receipt = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    assert receipt.reply_to == ["help@alice.example"]
    assert receipt.from_email == settings.DEFAULT_FROM_EMAIL
    date = bought.created_at.strftime("%-d %B %Y")
    for part in (receipt.body, receipt.alternatives[0][0]):
        assert date in part
        assert "Tide Tables" in part
        assert "$19.99" in part
        assert "Visa ending in 4242" in part
        assert url in part
        assert "help@alice.example" in part


def test_no_support_email_means_no_reply_to(alice_store, django_capture_on_commit_callbacks):
    product = product_with_file(alice_store)
    with django_capture_on_commit_callbacks(execute=True):
        purchase(alice_store, product)
    receipt = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    assert receipt.reply_to == []
    assert "ending in" not in receipt.body  # the factory's session carries no charge
