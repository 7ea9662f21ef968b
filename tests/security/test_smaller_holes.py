"""Issue #9, section 3: the smaller holes the attacking-seller probe found, each closed.

(Custom-domain claims, proved by DNS TXT: tests/sellers/test_domain_claims.py.)
"""

from __future__ import annotations

import statistics
import time
import uuid

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.files.base import ContentFile
from django.test import Client

from catalog.models import Product
from catalog.storage import private_storage
from console.models import AuditEntry
from tests.catalog.pdfs import image_bytes
from tests.conftest import PASSWORD, main_client, make_seller, make_user, store_client
from tests.factories import in_schema, product_with_file

# --- /admin/login/ has the sign-in page's limits --------------------------------------------


@pytest.fixture
def olivia(db):
    user = make_user("olivia@example.com", superuser=True)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def test_the_admin_signs_in_through_the_sign_in_page_and_lands_in_the_admin(olivia):
    client = main_client()
    to_login = client.get("/admin/")
    assert to_login.status_code == 302 and to_login["Location"].startswith("/admin/login/")
    to_allauth = client.get(to_login["Location"])
    assert to_allauth.status_code == 302
    assert to_allauth["Location"] == "/accounts/login/?next=%2Fadmin%2F"
    signed_in = client.post(to_allauth["Location"], {"login": olivia.email, "password": PASSWORD})
    assert (signed_in.status_code, signed_in["Location"]) == (302, "/admin/")
    assert client.get("/admin/").status_code == 200


def test_25_wrong_passwords_then_the_right_one_is_refused_on_the_admin_login(olivia):
    client = main_client()
    for attempt in range(25):
        client.post("/admin/login/", {"username": olivia.email, "password": f"guess-{attempt}"})
        client.post("/accounts/login/", {"login": olivia.email, "password": f"guess-{attempt}"})
    client.post("/admin/login/?next=/admin/", {"username": olivia.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    response = client.post("/accounts/login/", {"login": olivia.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert response.status_code in (200, 429)
    assert b"Too many failed login attempts" in response.content or response.status_code == 429


def test_a_signed_in_seller_is_told_the_admin_is_not_for_them(alice):
    response = main_client(alice).get("/admin/login/?next=/admin/")
    assert response.status_code == 403
    assert "no access to the admin" in response.content.decode()


# --- Sign-up: the response time says nothing about who has an account -----------------------


def _sign_up(email: str) -> float:
    client = Client(HTTP_HOST="localhost", REMOTE_ADDR=f"10.9.{uuid.uuid4().int % 250}.1")
    start = time.perf_counter()
    response = client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )
    elapsed = time.perf_counter() - start
    assert response.status_code == 302
    return elapsed


def test_signing_up_an_existing_address_does_the_same_work_as_a_new_one(db, capsys):
    make_seller("taken@example.com")
    _sign_up("warm-up@example.com")  # first request: templates, hashers, connections
    times: dict[str, list[float]] = {"new": [], "existing": []}
    mail.outbox.clear()
    rounds = 5
    for i in range(rounds):  # alternating, so machine load hits both alike
        times["new"].append(_sign_up(f"new-{i}@example.com"))
        times["existing"].append(_sign_up("taken@example.com"))
    new, existing = statistics.median(times["new"]), statistics.median(times["existing"])
    ratio = new / existing
    with capsys.disabled():
        print(
            f"\nsign-up median over {rounds}: new address {new * 1000:.0f} ms, "
            f"existing address {existing * 1000:.0f} ms, ratio {ratio:.2f}"
        )
    # Before: ~0.1 s against ~0.6 s (ratio ~5 to ~20): the existing address skipped the
    # hashing. A new address also writes its rows, so under machine load it runs up to
    # ~1.5x slower; 2 keeps the test off that noise and far from the old gap.
    assert 1 / 2 < ratio < 2, times
    # Each new address got its confirmation; the existing one its "you already have an
    # account" mail, once (ACCOUNT_RATE_LIMITS["confirm_email"]: one per 3 minutes).
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [f"new-{i}@example.com" for i in range(rounds)] + ["taken@example.com"]
    )


def test_account_emails_are_sent_by_a_worker(db, monkeypatch):
    queued = []
    monkeypatch.setattr("sellers.tasks.send_account_email.delay", queued.append)
    _sign_up("queued@example.com")
    assert not mail.outbox
    assert [q["to"] for q in queued] == [["queued@example.com"]]
    assert "/accounts/confirm-email/" in queued[0]["body"]


# --- Covers of unpublished products: the owner's only ------------------------------------------


def _product_with_cover(store, status: str) -> Product:
    product = product_with_file(store, title=f"Cover test {status}", status=status)
    with in_schema(store):
        cover = private_storage().save(f"covers/{uuid.uuid4()}.png", ContentFile(image_bytes()))
        Product.objects.filter(pk=product.pk).update(
            cover=cover, cover_state=Product.CoverState.READY
        )
        product.refresh_from_db()
    return product


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_an_unpublished_products_cover_is_served_to_its_owner_only(
    status, alice, alice_store, mallory, mallory_store, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path
    product = _product_with_cover(alice_store, status)
    url = product.cover_url
    assert Client(HTTP_HOST=alice_store.host).get(url).status_code == 404
    assert store_client(alice_store, mallory).get(url).status_code == 404
    assert store_client(mallory_store, mallory).get(url).status_code == 404
    owner = store_client(alice_store, alice).get(url)
    assert owner.status_code == 200 and owner.getvalue().startswith(b"\x89PNG")
    assert "private" in owner["Cache-Control"] and "public" not in owner["Cache-Control"]


def test_a_published_products_cover_is_public_and_cached(alice_store, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    product = _product_with_cover(alice_store, "published")
    response = Client(HTTP_HOST=alice_store.host).get(product.cover_url)
    assert response.status_code == 200
    assert "public" in response["Cache-Control"] and "immutable" in response["Cache-Control"]


# --- A platform admin's read-only look is in the audit log, page by page ------------------------


def test_each_page_an_admin_views_is_written_to_the_audit_log(olivia, alice, alice_store):
    admin = store_client(alice_store, olivia)
    for path in ("/dashboard/", "/dashboard/sales/?status=paid", "/dashboard/sales.csv"):
        response = admin.get(path)
        assert response.status_code == 200, path
        response.getvalue()
    entries = list(AuditEntry.objects.filter(action="store.view").order_by("pk"))
    assert [(e.actor, e.store, e.target) for e in entries] == [(olivia, alice_store, "alice")] * 3
    assert [e.after["path"] for e in entries] == [
        "/dashboard/",
        "/dashboard/sales/?status=paid",
        "/dashboard/sales.csv",
    ]
    assert all(e.at is not None for e in entries)
    # The console's audit page shows them.
    page = main_client(olivia).get("/console/audit/", {"action": "store.view"})
    assert page.status_code == 200 and b"/dashboard/sales.csv" in page.content
    # The owner's own visits are not an admin's: nothing recorded.
    store_client(alice_store, alice).get("/dashboard/")
    assert AuditEntry.objects.filter(action="store.view").count() == 3


def test_an_admin_look_nobody_can_record_is_refused(olivia, alice_store):
    from tenants.hooks import register_admin_view_recorder

    previous = register_admin_view_recorder(None)
    try:
        response = store_client(alice_store, olivia).get("/dashboard/")
    finally:
        register_admin_view_recorder(previous)
    assert response.status_code == 403
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/settings/",
        "/dashboard/settings/domains/",
        "/dashboard/products/new/",
        "/dashboard/stripe/connect/",
    ],
)
def test_an_admin_can_never_write(olivia, alice_store, path):
    response = store_client(alice_store, olivia).post(path, {"name": "Pwned", "domain": "x.test"})
    assert response.status_code == 403
    assert alice_store.__class__.objects.get(pk=alice_store.pk).name == "Alice's Guides"


def test_staff_who_are_not_superusers_get_no_look_at_all(alice_store):
    sam = make_seller("sam@example.com")
    sam.is_staff = True
    sam.save()
    assert store_client(alice_store, sam).get("/dashboard/").status_code == 403
    assert not AuditEntry.objects.exists()
