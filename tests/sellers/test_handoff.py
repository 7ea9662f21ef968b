from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.test import Client

from tests.conftest import main_client


def _follow_to_store(alice_store, alice):
    store = Client(HTTP_HOST=alice_store.host)  # no session on the store's host yet
    first = store.get("/dashboard/sales/?status=paid")
    start = urlsplit(first["Location"])
    assert start.netloc == "localhost:8000" and start.path == "/accounts/handoff/"
    handed = main_client(alice).get(f"{start.path}?{start.query}")
    target = urlsplit(handed["Location"])
    assert target.hostname == "alice.localhost" and target.path == "/auth/handoff/"
    return store, target


def test_a_seller_logged_in_on_the_main_domain_is_signed_in_on_the_store(alice, alice_store):
    store, target = _follow_to_store(alice_store, alice)
    finish = store.get(f"{target.path}?{target.query}")
    assert finish.status_code == 302 and finish["Location"] == "/dashboard/sales/?status=paid"
    assert store.get("/dashboard/").status_code == 200


def test_an_anonymous_visitor_is_asked_to_log_in_first(alice_store):
    store = Client(HTTP_HOST=alice_store.host)
    start = urlsplit(store.get("/dashboard/")["Location"])
    response = main_client().get(f"{start.path}?{start.query}")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_handoff_token_works_once_and_only_on_its_host(alice, alice_store, mallory_store):
    store, target = _follow_to_store(alice_store, alice)
    token = parse_qs(target.query)["token"][0]
    elsewhere = Client(HTTP_HOST=mallory_store.host).get(f"/auth/handoff/?token={token}")
    assert elsewhere.status_code == 403
    assert store.get(f"{target.path}?{target.query}").status_code == 302
    assert (
        Client(HTTP_HOST=alice_store.host).get(f"{target.path}?{target.query}").status_code == 403
    )


def test_a_forged_token_is_refused(alice_store):
    response = Client(HTTP_HOST=alice_store.host).get("/auth/handoff/?token=eyJ1IjoxfQ:forged:sig")
    assert response.status_code == 403


def test_the_handoff_only_goes_to_stores_of_this_platform(alice):
    response = main_client(alice).get("/accounts/handoff/?next=https://evil.example.org/dashboard/")
    assert response.status_code == 403 and "Location" not in response
    assert "not one of your stores" in response.content.decode()


def test_the_owner_of_a_suspended_store_signs_in_there_and_sees_why(alice, alice_store):
    from tenants.services import store_suspend

    store_suspend(store=alice_store, reason="Review")
    store, target = _follow_to_store(alice_store, alice)
    finish = store.get(f"{target.path}?{target.query}")
    assert finish.status_code == 302 and finish["Location"] == "/dashboard/sales/?status=paid"
    assert store.get("/dashboard/").status_code == 200
    # Buyers still get the unavailable page.
    assert Client(HTTP_HOST=alice_store.host).get("/").status_code == 503
