"""The console is for superusers. For anyone else it does not exist: a 404, never a
login redirect that would give it away."""

from __future__ import annotations

import pytest

from console.models import AuditEntry
from tenants.models import Store
from tests.conftest import main_client, store_client

from .conftest import stripe_event

PAGES = [
    "/console/",
    "/console/stores/{store}/",
    "/console/fees/",
    "/console/fees.csv",
    "/console/webhooks/",
    "/console/audit/",
]
ACTIONS = [
    "/console/stores/{store}/suspend/",
    "/console/stores/{store}/restore/",
    "/console/stores/{store}/fee/",
    "/console/stores/{store}/dashboard/",
    "/console/webhooks/{event}/retry/",
    "/console/webhooks/retry-failed/",
]


@pytest.fixture
def urls(alice_store):
    event = stripe_event(status="failed", error="boom")
    return lambda path: path.format(store=alice_store.pk, event=event.pk)


@pytest.fixture
def outsiders(alice, mallory, mallory_store, sam):
    """Anonymous, a seller, another seller, and staff who is not a superuser."""
    return {"anonymous": None, "alice": alice, "mallory": mallory, "sam": sam}


@pytest.mark.parametrize("path", PAGES)
def test_it_is_a_404_for_everyone_but_superusers(path, urls, outsiders):
    for who, user in outsiders.items():
        response = main_client(user).get(urls(path))
        assert response.status_code == 404, who
        assert "Location" not in response, who
        assert b"console" not in response.content.lower(), who


@pytest.mark.parametrize("path", ACTIONS)
def test_its_actions_are_a_404_for_everyone_but_superusers(path, urls, outsiders, alice_store):
    for who, user in outsiders.items():
        response = main_client(user).post(urls(path), {"reason": "x", "fee_percent": "1"})
        assert response.status_code == 404, who
    alice_store.refresh_from_db()
    assert alice_store.status == Store.Status.ACTIVE
    assert alice_store.fee_percent is None
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("path", PAGES)
def test_olivia_the_operator_opens_every_page(path, urls, olivia):
    assert main_client(olivia).get(urls(path)).status_code == 200


@pytest.mark.parametrize("path", ACTIONS)
def test_actions_only_answer_post(path, urls, olivia):
    assert main_client(olivia).get(urls(path)).status_code == 405


def test_the_console_is_not_on_store_domains(olivia, alice_store):
    assert store_client(alice_store, olivia).get("/console/").status_code == 404


def test_an_unknown_store_is_a_404(olivia):
    assert main_client(olivia).get("/console/stores/999999/").status_code == 404


def test_the_public_site_links_the_console_for_superusers_only(olivia, alice):
    assert b"/console/" in main_client(olivia).get("/").content
    assert b"/console/" not in main_client(alice).get("/").content
