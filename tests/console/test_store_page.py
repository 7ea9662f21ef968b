"""/console/stores/<pk>/: one store in full, and what an operator can do to it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from console.models import AuditEntry
from payments.fees import fee_rule
from payments.platform.models import ConnectedAccount, FeeLedgerEntry
from tenants.models import Store
from tests.conftest import main_client, store_client
from tests.factories import product_with_file

from .conftest import ledger_row


def url(store: Store, action: str = "") -> str:
    return f"/console/stores/{store.pk}/{action + '/' if action else ''}"


def test_it_shows_details_stripe_state_fee_and_recent_sales(olivia, alice_store):
    ConnectedAccount.objects.create(
        store=alice_store,
        stripe_account_id="acct_1Alice",
        charges_enabled=False,
        payouts_enabled=False,
        details_submitted=True,
        requirements_due=["individual.verification.document"],
    )
    product_with_file(alice_store, title="Field Guide")
    FeeLedgerEntry.objects.bulk_create(
        [ledger_row(alice_store, title=f"Guide {i}") for i in range(25)]
    )
    response = main_client(olivia).get(url(alice_store))
    html = response.content.decode()
    assert "alice@example.com" in html
    assert "acct_1Alice" in html and "individual.verification.document" in html
    assert "Action needed" in html
    assert "Platform default" in html
    assert response.context["products_count"] == 1
    assert len(response.context["sales"]) == 20
    assert "Open dashboard (read-only)" in html


def test_suspending_closes_the_storefront_and_records_who_why_and_when(olivia, alice_store):
    assert store_client(alice_store).get("/").status_code == 200
    response = main_client(olivia).post(url(alice_store, "suspend"), {"reason": "Chargeback spike"})
    assert response.status_code == 302
    alice_store.refresh_from_db()
    assert alice_store.status == Store.Status.SUSPENDED
    assert alice_store.suspended_reason == "Chargeback spike"
    storefront = store_client(alice_store).get("/")
    assert storefront.status_code == 503
    assert b"unavailable" in storefront.content.lower()
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.store) == (olivia, "store.suspend", alice_store)
    assert entry.before == {"status": "active", "suspended_reason": ""}
    assert entry.after == {"status": "suspended", "suspended_reason": "Chargeback spike"}


def test_restoring_brings_the_storefront_back(olivia, alice_store):
    client = main_client(olivia)
    client.post(url(alice_store, "suspend"), {"reason": "Review"})
    assert store_client(alice_store).get("/").status_code == 503
    client.post(url(alice_store, "restore"))
    assert store_client(alice_store).get("/").status_code == 200
    entry = AuditEntry.objects.filter(action="store.restore").get()
    assert entry.before == {"status": "suspended", "suspended_reason": "Review"}
    assert entry.after == {"status": "active", "suspended_reason": ""}
    assert AuditEntry.objects.count() == 2


def test_suspending_a_suspended_store_changes_nothing_and_says_so(olivia, alice_store):
    client = main_client(olivia)
    client.post(url(alice_store, "suspend"), {"reason": "First"})
    response = client.post(url(alice_store, "suspend"), {"reason": "Second"}, follow=True)
    assert "already suspended" in response.content.decode()
    alice_store.refresh_from_db()
    assert alice_store.suspended_reason == "First"
    assert AuditEntry.objects.count() == 1


def test_restoring_an_active_store_changes_nothing_and_says_so(olivia, alice_store):
    response = main_client(olivia).post(url(alice_store, "restore"), follow=True)
    assert "already active" in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_a_suspension_needs_a_reason(olivia, alice_store):
    response = main_client(olivia).post(url(alice_store, "suspend"), {"reason": "   "})
    assert response.status_code == 400
    assert "Say why the store is suspended" in response.content.decode()
    alice_store.refresh_from_db()
    assert alice_store.is_active
    assert not AuditEntry.objects.exists()


def test_a_fee_override_changes_the_fee_rule_for_new_sales(olivia, alice_store):
    response = main_client(olivia).post(
        url(alice_store, "fee"), {"fee_percent": "2.5", "fee_fixed": "10"}
    )
    assert response.status_code == 302
    alice_store.refresh_from_db()
    assert (alice_store.fee_percent, alice_store.fee_fixed) == (Decimal("2.50"), 10)
    rule = fee_rule(
        currency="usd", store_percent=alice_store.fee_percent, store_fixed=alice_store.fee_fixed
    )
    assert rule.fee_for(1000) == 25 + 10
    entry = AuditEntry.objects.get()
    assert entry.action == "store.fee"
    assert entry.before == {"fee_percent": None, "fee_fixed": None}
    assert entry.after == {"fee_percent": "2.50", "fee_fixed": 10}
    assert "Override" in main_client(olivia).get(url(alice_store)).content.decode()


def test_blank_fee_fields_go_back_to_the_platform_default(olivia, alice_store, settings):
    client = main_client(olivia)
    client.post(url(alice_store, "fee"), {"fee_percent": "1", "fee_fixed": "0"})
    client.post(url(alice_store, "fee"), {"fee_percent": "", "fee_fixed": ""})
    alice_store.refresh_from_db()
    assert (alice_store.fee_percent, alice_store.fee_fixed) == (None, None)
    rule = fee_rule(
        currency="usd", store_percent=alice_store.fee_percent, store_fixed=alice_store.fee_fixed
    )
    assert (rule.percent, rule.fixed) == (
        settings.PLATFORM_FEE_PERCENT,
        settings.PLATFORM_FEE_FIXED,
    )
    assert AuditEntry.objects.count() == 2


def test_setting_the_fee_already_in_force_records_nothing(olivia, alice_store):
    client = main_client(olivia)
    client.post(url(alice_store, "fee"), {"fee_percent": "3", "fee_fixed": ""})
    response = client.post(
        url(alice_store, "fee"), {"fee_percent": "3.00", "fee_fixed": ""}, follow=True
    )
    assert "already the fee in force" in response.content.decode()
    assert AuditEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("percent", "fixed", "field"),
    [
        ("50.01", "", "fee_percent"),
        ("-1", "", "fee_percent"),
        ("1.234", "", "fee_percent"),
        ("abc", "", "fee_percent"),
        ("NaN", "", "fee_percent"),
        ("Infinity", "", "fee_percent"),
        ("5", "-1", "fee_fixed"),
        ("5", "100001", "fee_fixed"),
        ("5", "1.5", "fee_fixed"),
        ("5", "ten", "fee_fixed"),
    ],
)
def test_a_junk_fee_shows_form_errors_and_changes_nothing(
    olivia, alice_store, percent, fixed, field
):
    response = main_client(olivia).post(
        url(alice_store, "fee"), {"fee_percent": percent, "fee_fixed": fixed}
    )
    assert response.status_code == 400
    assert response.context["fee_form"].errors[field]
    alice_store.refresh_from_db()
    assert (alice_store.fee_percent, alice_store.fee_fixed) == (None, None)
    assert not AuditEntry.objects.exists()


def test_the_service_refuses_a_junk_fee_too(olivia, alice_store):
    from django.core.exceptions import ValidationError

    from console.services import console_store_set_fee

    with pytest.raises(ValidationError) as caught:
        console_store_set_fee(
            actor=olivia, store=alice_store, fee_percent=Decimal("60"), fee_fixed=-5
        )
    assert set(caught.value.message_dict) == {"fee_percent", "fee_fixed"}
    alice_store.refresh_from_db()
    assert alice_store.fee_percent is None
    assert not AuditEntry.objects.exists()


def test_opening_the_dashboard_is_recorded_and_lands_read_only(olivia, alice_store):
    from urllib.parse import urlsplit

    from django.test import Client

    response = main_client(olivia).post(url(alice_store, "dashboard"))
    assert response.status_code == 302
    # *.localhost shares no cookie: a read-only hand-off to the store's own subdomain.
    target = urlsplit(response["Location"])
    assert (target.netloc, target.path) == ("alice.localhost:8000", "/auth/handoff/")
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.store, entry.actor) == ("store.impersonate", alice_store, olivia)
    browser = Client(HTTP_HOST=alice_store.host)
    landed = browser.get(f"{target.path}?{target.query}")
    assert (landed.status_code, landed["Location"]) == (302, "/dashboard/")
    dashboard = browser.get("/dashboard/")
    assert dashboard.status_code == 200
    assert b"read-only" in dashboard.content
    assert browser.post("/dashboard/settings/", {"name": "Pwned"}).status_code == 403
    viewed = AuditEntry.objects.filter(action="store.view").get()
    assert (viewed.actor, viewed.store, viewed.after["path"]) == (
        olivia,
        alice_store,
        "/dashboard/",
    )
