from __future__ import annotations

import re

import pytest
from django.core import mail
from django.db import connection

from sellers.models import User
from tenants.models import Domain, Store
from tests.conftest import PASSWORD, main_client, make_seller


def _confirmation_link(message) -> str:
    match = re.search(r"https?://[^\s]+/accounts/confirm-email/[^\s]+", message.body)
    assert match, message.body
    return match.group(0)


def test_a_seller_signs_up_verifies_creates_a_store_and_it_is_live(db):
    client = main_client()
    response = client.post(
        "/accounts/signup/",
        {"email": "Alice@Example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = _confirmation_link(mail.outbox[0])

    path = link.split("localhost:8000", 1)[-1] if "localhost:8000" in link else link
    assert client.get(path).status_code == 200
    response = client.post(path)
    assert response.status_code == 302

    response = client.get("/start/")
    assert response.status_code == 302 and response["Location"] == "/start/new/"
    response = client.post("/start/new/", {"name": "Alice's Guides", "subdomain": "alice"})
    assert response.status_code == 302
    assert response["Location"] == "http://alice.localhost:8000/dashboard/?welcome=1"

    store = Store.objects.get(subdomain="alice")
    assert store.owner.email == "alice@example.com"
    assert Domain.objects.filter(tenant=store, domain="alice.localhost").exists()

    # One login works on the store's own subdomain.
    dashboard = client.get("/dashboard/?welcome=1", HTTP_HOST="alice.localhost")
    assert dashboard.status_code == 200
    assert b"is live" in dashboard.content
    assert client.get("/", HTTP_HOST="alice.localhost").status_code == 200


def test_an_unverified_seller_cannot_create_a_store(db):
    user = make_seller("eve@example.com", verified=False)
    response = main_client(user).post("/start/new/", {"name": "Eve", "subdomain": "eve"})
    assert response.status_code == 302
    assert not Store.objects.filter(subdomain="eve").exists()


def test_a_duplicate_signup_creates_no_second_user(db):
    make_seller("alice@example.com")
    main_client().post(
        "/accounts/signup/",
        {"email": "ALICE@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1


@pytest.mark.parametrize(
    ("subdomain", "message"),
    [
        ("Alice", "lowercase"),
        ("ab", "3 to 40 characters"),
        ("a" * 41, "3 to 40 characters"),
        ("my store", "only lowercase letters"),
        ("café", "only lowercase letters"),
        ("-alice", "start or end with a hyphen"),
        ("alice-", "start or end with a hyphen"),
        ("www", "reserved"),
        ("admin", "reserved"),
        ("console", "reserved"),
        ("x'; drop schema public; --", "only lowercase letters"),
        ("x'; DROP SCHEMA public; --", "lowercase"),
        ("a.b", "only lowercase letters"),
        ("", "Choose a subdomain"),
    ],
)
def test_the_store_form_says_exactly_what_is_wrong_with_a_subdomain(alice, subdomain, message):
    response = main_client(alice).post("/start/new/", {"name": "Shop", "subdomain": subdomain})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Store.objects.count() == 0


def test_a_subdomain_taken_in_another_case_is_refused(alice_store, mallory):
    response = main_client(mallory).post("/start/new/", {"name": "M", "subdomain": "alice"})
    assert "already taken" in response.content.decode()
    assert Store.objects.filter(owner=mallory).count() == 0


def test_schema_names_never_come_from_what_the_seller_typed(alice_store):
    assert alice_store.schema_name.startswith("st_")
    assert "alice" not in alice_store.schema_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
            [alice_store.schema_name],
        )
        assert cursor.fetchone()[0] >= 5


def test_a_failed_provisioning_leaves_no_schema_and_no_rows(alice, monkeypatch):
    from tenants import provisioning

    def boom(schema_name, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{schema_name}"')
        raise RuntimeError("disk full")

    monkeypatch.setattr(provisioning, "schema_create", boom)
    with pytest.raises(RuntimeError):
        from tenants.services import store_create

        store_create(owner=alice, name="Alice", subdomain="alice")
    assert not Store.objects.filter(subdomain="alice").exists()
    assert not Domain.objects.filter(domain="alice.localhost").exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'st\\_%%'")
        assert cursor.fetchone()[0] == 0


def test_password_reset_sends_an_email(alice):
    main_client().post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert len(mail.outbox) == 1
    assert "password" in mail.outbox[0].subject.lower()


def test_repeated_failed_logins_are_rate_limited(alice):
    client = main_client()
    for _ in range(5):
        client.post("/accounts/login/", {"login": "alice@example.com", "password": "nope"})
    # Even the right password is refused while the limit holds.
    response = client.post("/accounts/login/", {"login": "alice@example.com", "password": PASSWORD})
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
