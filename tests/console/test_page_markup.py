"""The console's forms and tables, as a screen reader meets them."""

from __future__ import annotations

from tests.conftest import main_client
from tests.markup import assert_headers_have_names, assert_help_texts_are_announced, by_id

from .conftest import stripe_event


def test_suspend_reason_and_fee_help_texts_are_announced(olivia, alice_store):
    html = main_client(olivia).get(f"/console/stores/{alice_store.pk}/").content
    assert assert_help_texts_are_announced(html) >= 3
    assert "seller sees this" in by_id(html, "id_reason_helptext").text
    assert "0–50" in by_id(html, "id_fee_percent_helptext").text
    assert "Cents for USD" in by_id(html, "id_fee_fixed_helptext").text


def test_the_webhook_inbox_names_its_action_column(olivia):
    stripe_event(status="failed", error="boom")
    html = main_client(olivia).get("/console/webhooks/").content
    assert_headers_have_names(html)
