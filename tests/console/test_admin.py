"""/admin/: the public models are registered, browsable, and history stays read-only."""

from __future__ import annotations

import pytest

from console.services import console_impersonation_start
from payments.platform.models import ConnectedAccount, FeeLedgerEntry
from tests.conftest import main_client

from .conftest import ledger_row, stripe_event

CHANGELISTS = [
    "/admin/tenants/store/",
    "/admin/tenants/domain/",
    "/admin/payments_platform/connectedaccount/",
    "/admin/payments_platform/stripeevent/",
    "/admin/payments_platform/feeledgerentry/",
    "/admin/console/auditentry/",
    "/admin/sellers/user/",
]


@pytest.fixture
def data(olivia, alice_store):
    ConnectedAccount.objects.create(store=alice_store, stripe_account_id="acct_alice")
    stripe_event(status="failed", error="boom")
    console_impersonation_start(actor=olivia, store=alice_store)
    return FeeLedgerEntry.objects.bulk_create([ledger_row(alice_store)])[0]


@pytest.mark.parametrize("path", CHANGELISTS)
def test_olivia_browses_and_searches_every_public_model(path, olivia, data):
    client = main_client(olivia)
    assert client.get(path).status_code == 200
    assert client.get(path, {"q": "alice"}).status_code == 200


def test_stores_and_ledger_rows_open_but_cannot_be_deleted(olivia, alice_store, data):
    client = main_client(olivia)
    assert client.get(f"/admin/tenants/store/{alice_store.pk}/change/").status_code == 200
    assert client.get(f"/admin/tenants/store/{alice_store.pk}/delete/").status_code == 403
    assert (
        client.get(f"/admin/payments_platform/feeledgerentry/{data.pk}/change/").status_code == 200
    )
    assert (
        client.get(f"/admin/payments_platform/feeledgerentry/{data.pk}/delete/").status_code == 403
    )
    assert client.get("/admin/payments_platform/feeledgerentry/add/").status_code == 403


def test_an_operator_adds_a_user_by_email(olivia):
    from sellers.models import User

    client = main_client(olivia)
    assert client.get("/admin/sellers/user/add/").status_code == 200
    response = client.post(
        "/admin/sellers/user/add/",
        {
            "email": "Nina@Example.com",
            "usable_password": "true",
            "password1": "a-long-pass-phrase-9",
            "password2": "a-long-pass-phrase-9",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(email="nina@example.com")
    assert user.check_password("a-long-pass-phrase-9")
    assert client.get(f"/admin/sellers/user/{user.pk}/change/").status_code == 200


def test_sam_the_staff_member_without_permissions_sees_no_models(sam):
    response = main_client(sam).get("/admin/")
    assert response.status_code == 200
    assert b"/admin/payments_platform/" not in response.content


def test_history_and_mirrored_tables_are_read_only_through_one_admin_class(rf, django_user_model):
    from django.contrib import admin

    from console.models import AuditEntry
    from payments.platform.models import ConnectedAccount, FeeLedgerEntry, StripeEvent
    from tenants.admin import ReadOnlyAdmin

    request = rf.get("/admin/")
    request.user = django_user_model(is_superuser=True, is_staff=True)
    for model in (AuditEntry, ConnectedAccount, FeeLedgerEntry, StripeEvent):
        model_admin = admin.site.get_model_admin(model)
        assert isinstance(model_admin, ReadOnlyAdmin), model
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
