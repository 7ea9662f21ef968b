"""A store's name is one line: it goes into email subjects, From names and page titles.

A line break POSTed into the name (a text input sends none, a script can) used to be
stored as typed; Django's mail then refuses every header carrying it (BadHeaderError), so
every receipt of the store failed. Now it is folded into a space where the name is saved.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from tenants.models import Store
from tenants.services import store_create, store_update_settings
from tests.conftest import make_seller, store_client
from tests.factories import product_with_file, purchase


@pytest.mark.parametrize(
    "typed",
    [
        "Nora's\nField Guides",
        "Nora's\r\nField\tGuides",
        "Nora's\x00 Field\u2028Guides",
        "  Nora's   Field Guides ",
    ],
)
def test_a_new_stores_name_is_kept_on_one_line(db, typed):
    store = store_create(owner=make_seller("nora@example.com"), name=typed, subdomain="nora")
    assert Store.objects.get(pk=store.pk).name == "Nora's Field Guides"


def test_a_name_of_only_breaks_or_too_long_is_refused_with_a_message(db, alice_store):
    with pytest.raises(ValidationError) as blank:
        store_create(owner=make_seller("nora@example.com"), name="\n\r\t", subdomain="nora")
    assert blank.value.message_dict == {"name": ["Give your store a name."]}
    assert not Store.objects.filter(subdomain="nora").exists()
    with pytest.raises(ValidationError) as long:
        store_update_settings(store=alice_store, name="x" * 81)
    assert "under 80 characters (81 now)" in long.value.message_dict["name"][0]
    assert Store.objects.get(pk=alice_store.pk).name == "Alice's Guides"


def test_a_name_with_a_line_break_from_settings_still_lets_receipts_go_out(
    alice, alice_store, django_capture_on_commit_callbacks
):
    response = store_client(alice_store, alice).post(
        "/dashboard/settings/",
        {
            "name": "Alice's\r\nBcc: victim@example.com",
            "description": "",
            "support_email": "",
            "accent_color": "#0f766e",
        },
    )
    assert response.status_code == 302
    store = Store.objects.get(pk=alice_store.pk)
    assert store.name == "Alice's Bcc: victim@example.com"
    product = product_with_file(store, title="Atlas")
    with django_capture_on_commit_callbacks(execute=True):
        purchase(store, product)
    receipt = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    assert receipt.subject == "Your receipt from Alice's Bcc: victim@example.com: Atlas"
    message = receipt.message()  # what goes on the wire: one header line, no extra recipient
    assert "victim@example.com" not in (message.get("Bcc") or "")
    assert receipt.recipients() == ["bob@example.com"]
