"""PLATFORM_PORT decides the port of every absolute URL (tenants.origins builds them all)."""

from __future__ import annotations

import pytest
from django.test import Client

from tenants.origins import origin, platform_origin
from tests.conftest import main_client, make_seller


@pytest.fixture
def port_8123(settings):
    settings.PLATFORM_PORT = "8123"


def test_an_origin_carries_the_port_only_when_there_is_one():
    assert origin("alice.localhost", scheme="http", port="8123") == "http://alice.localhost:8123"
    assert origin("shop.example.com", scheme="https", port="") == "https://shop.example.com"


def test_store_urls_and_the_main_site_carry_the_platform_port(port_8123, alice_store):
    assert platform_origin() == "http://localhost:8123"
    assert alice_store.url == "http://alice.localhost:8123"


def test_the_sign_in_redirect_goes_to_the_platform_port(port_8123, alice_store):
    response = Client(HTTP_HOST=f"{alice_store.host}:8123").get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("http://localhost:8123/accounts/handoff/?next=")


def test_the_logout_form_and_links_use_the_platform_port(port_8123, alice, alice_store):
    page = main_client(alice).get("/start/", follow=True).content.decode()
    assert 'action="http://localhost:8123/accounts/logout/"' in page
    assert 'href="http://localhost:8123/start/"' in page
    assert ":8000" not in page


def test_the_store_created_redirect_goes_to_the_platform_port(port_8123, db):
    seller = make_seller("carol@example.com")
    response = main_client(seller).post("/start/new/", {"name": "Carol", "subdomain": "carol"})
    assert response.status_code == 302
    assert response["Location"] == "http://carol.localhost:8123/dashboard/?welcome=1"
