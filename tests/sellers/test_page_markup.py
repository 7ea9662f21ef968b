"""The landing page, the dashboard overview, store creation and settings, as axe and
Lighthouse read them: a description, headings in order, help texts with their ids."""

from __future__ import annotations

from tests.conftest import main_client, store_client
from tests.markup import (
    assert_headings_do_not_skip,
    assert_help_texts_are_announced,
    by_id,
    meta_description,
)


def test_the_landing_page_gives_the_pitch_and_keeps_headings_in_order(db):
    html = main_client().get("/").content
    assert "sell your PDFs from your own store" in meta_description(html)
    assert_headings_do_not_skip(html)


def test_the_dashboard_overview_keeps_headings_in_order(alice, alice_store):
    html = store_client(alice_store, alice).get("/dashboard/").content
    assert_headings_do_not_skip(html)


def test_store_settings_help_texts_are_announced(alice, alice_store):
    html = store_client(alice_store, alice).get("/dashboard/settings/").content
    assert assert_help_texts_are_announced(html) >= 3
    assert "under your store's name" in by_id(html, "id_description_helptext").text


def test_the_subdomain_help_text_is_announced(db):
    from tests.conftest import make_seller

    html = main_client(make_seller("sam@example.com")).get("/start/new/").content
    assert assert_help_texts_are_announced(html) >= 1
    assert "lowercase letters" in by_id(html, "id_subdomain_helptext").text
