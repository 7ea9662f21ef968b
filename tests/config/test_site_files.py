"""/favicon.ico and /robots.txt: what browsers and crawlers ask every host for."""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles import finders
from PIL import Image

from tests.conftest import main_client, store_client
from tests.markup import find


def test_the_platform_ships_an_icon_in_three_sizes():
    path = finders.find("favicon.ico")
    assert path, "static/favicon.ico is missing"
    with Image.open(path) as icon:
        assert icon.format == "ICO"
        assert {(16, 16), (32, 32), (48, 48)} <= set(icon.info["sizes"])


def test_every_page_links_the_icon(alice_store):
    for client in (main_client(), store_client(alice_store)):
        (link,) = find(client.get("/").content, "link", rel="icon")
        assert link.attrs["href"].startswith(settings.STATIC_URL)
        assert link.attrs["href"].endswith(".ico")


def test_favicon_ico_answers_on_the_main_domain_and_on_store_hosts(alice_store):
    for client in (main_client(), store_client(alice_store)):
        response = client.get("/favicon.ico")
        assert response.status_code == 302
        assert response["Location"].startswith(settings.STATIC_URL)
        assert "favicon" in response["Location"] and response["Location"].endswith(".ico")
        assert "max-age=86400" in response["Cache-Control"]


def test_the_main_domain_keeps_crawlers_out_of_accounts_console_and_admin():
    response = main_client().get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    lines = response.content.decode().splitlines()
    assert lines[0] == "User-agent: *"
    assert {"Disallow: /accounts/", "Disallow: /console/", "Disallow: /admin/"} <= set(lines)
    assert "Disallow: /" not in lines  # the landing page stays indexable


def test_a_store_keeps_its_own_robots_txt(alice_store):
    lines = store_client(alice_store).get("/robots.txt").content.decode().splitlines()
    assert "Disallow: /dashboard/" in lines and "Disallow: /console/" not in lines
