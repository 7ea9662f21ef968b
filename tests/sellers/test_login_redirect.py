"""Where signing in lands: a seller on their stores (or "Create your store"), a platform
admin on the console."""

from __future__ import annotations

from sellers.models import User
from tests.conftest import PASSWORD, main_client, make_seller


def _login(email: str, next_url: str = ""):
    data = {"login": email, "password": PASSWORD}
    path = "/accounts/login/" + (f"?next={next_url}" if next_url else "")
    return main_client().post(path, data)


def test_a_superuser_who_signs_in_lands_on_the_console(db):
    admin = make_seller("root@example.com")
    User.objects.filter(pk=admin.pk).update(is_superuser=True, is_staff=True)
    response = _login("root@example.com")
    assert response.status_code == 302
    assert response["Location"] == "/console/"


def test_a_superuser_with_a_next_url_goes_there(db):
    admin = make_seller("root@example.com")
    User.objects.filter(pk=admin.pk).update(is_superuser=True, is_staff=True)
    response = _login("root@example.com", next_url="/console/fees/")
    assert response["Location"] == "/console/fees/"


def test_a_seller_still_lands_on_their_stores(db):
    make_seller("carol@example.com")
    response = _login("carol@example.com")
    assert response.status_code == 302
    assert response["Location"] == "/start/"
