from __future__ import annotations

from tests.conftest import store_client


def test_the_owner_opens_the_dashboard(alice, alice_store):
    assert store_client(alice_store, alice).get("/dashboard/").status_code == 200


def test_an_anonymous_visitor_is_sent_to_sign_in_on_the_main_domain(alice_store):
    response = store_client(alice_store).get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("http://localhost:8000/accounts/handoff/?next=")
    assert "alice.localhost" in response["Location"]


def test_mallory_cannot_open_alices_dashboard(alice_store, mallory, mallory_store):
    response = store_client(alice_store, mallory).get("/dashboard/")
    assert response.status_code == 403
    assert b"Alice" not in response.content


def test_the_owner_still_reaches_the_dashboard_of_a_suspended_store(alice, alice_store):
    from tenants.services import store_suspend

    store_suspend(store=alice_store, reason="Review")
    response = store_client(alice_store, alice).get("/dashboard/")
    assert response.status_code == 200
    assert b"suspended" in response.content
