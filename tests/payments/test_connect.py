"""Connecting a store's Stripe account the way real Stripe works: any country, one
account per store, GETs that write nothing, and the page says things in words."""

from __future__ import annotations

import json
import threading
import urllib.parse
from datetime import UTC, datetime

import pytest
from django.db import connections

from payments import stripe_client
from payments.platform.models import ConnectedAccount
from payments.platform.services import connected_account_for
from tests.conftest import make_seller, store_client
from tests.payments.conftest import connect_store


def _accounts_of(standin, store) -> list[dict]:
    state = standin.call("GET", "/state")
    return [
        a
        for a in state["collections"]["accounts"]
        if a.get("metadata", {}).get("store") == store.schema_name
    ]


def _create_requests(standin, store) -> list[dict]:
    return [
        r
        for r in standin.requests("/v1/accounts")
        if r["method"] == "POST"
        and r["path"] == "/v1/accounts"
        and r["params"].get("metadata", {}).get("store") == store.schema_name
    ]


# --- Sellers everywhere ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "currency"), [("US", "usd"), ("FR", "eur"), ("JP", "jpy"), ("GB", "gbp")]
)
def test_the_account_is_created_in_the_country_the_seller_picks(
    alice, alice_store, standin, country, currency
):
    client = store_client(alice_store, alice)
    go = client.post("/dashboard/stripe/connect/", {"country": country})
    assert go.status_code == 302 and "/hosted/onboarding/" in go["Location"]

    (sent,) = _create_requests(standin, alice_store)
    assert sent["params"]["country"] == country
    row = connected_account_for(alice_store)
    assert (row.country, row.default_currency) == (country, currency)
    (created,) = _accounts_of(standin, alice_store)
    assert created["country"] == country and created["default_currency"] == currency


def test_an_account_is_made_with_controller_properties_and_the_stores_profile(
    alice, alice_store, standin
):
    store_client(alice_store, alice).post("/dashboard/stripe/connect/", {"country": "FR"})
    (sent,) = _create_requests(standin, alice_store)
    params = sent["params"]
    assert "type" not in params
    assert params["controller"] == {
        "stripe_dashboard": {"type": "full"},
        "fees": {"payer": "account"},
        "losses": {"payments": "stripe"},
        "requirement_collection": "stripe",
    }
    assert params["business_profile"] == {"name": alice_store.name, "url": alice_store.url}
    assert params["metadata"] == {"store": alice_store.schema_name}
    assert sent["stripe_version"] == stripe_client.STRIPE_API_VERSION
    # Stripe keeps those settings on the account.
    (created,) = _accounts_of(standin, alice_store)
    assert created["controller"]["fees"] == {"payer": "account"}
    assert created["controller"]["stripe_dashboard"] == {"type": "full"}
    assert created["business_profile"]["name"] == alice_store.name


def test_a_missing_or_unknown_country_creates_nothing_and_says_why(alice, alice_store, standin):
    client = store_client(alice_store, alice)
    for country in ("", "XX", "KP"):
        page = client.post("/dashboard/stripe/connect/", {"country": country}, follow=True)
        assert "Choose the country your business is in" in page.content.decode()
    assert connected_account_for(alice_store) is None
    assert _create_requests(standin, alice_store) == []


@pytest.mark.parametrize(
    ("accept_language", "setting", "expected"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", "US", "FR"),
        ("ja", "US", "JP"),
        ("en-GB,en;q=0.9", "US", "GB"),
        ("de-AT", "US", "AT"),
        ("en", "US", "US"),
        ("en", "GB", "GB"),
        ("", "CA", "CA"),
        ("xx-ZZ", "XX", "US"),
        ("en-US;q=0.1,fr-BE;q=0.8", "US", "BE"),
    ],
)
def test_the_country_defaults_from_the_browser_or_the_platform_setting(
    alice, alice_store, standin, settings, accept_language, setting, expected
):
    settings.STRIPE_DEFAULT_COUNTRY = setting
    page = store_client(alice_store, alice).get(
        "/dashboard/stripe/", HTTP_ACCEPT_LANGUAGE=accept_language
    )
    html = page.content.decode()
    assert f'<option value="{expected}" selected>' in html
    assert html.count(" selected>") == 1


def test_a_legacy_standard_account_still_reads_as_a_full_dashboard_account(standin):
    client = stripe_client._client()
    legacy = client.v1.accounts.create(
        params={"type": "standard", "country": "US", "email": "old@example.com"}
    )
    account = stripe_client.account_retrieve(legacy.id)
    assert account.dashboard == "full"
    assert account.country == "US" and account.default_currency == "usd"
    modern = stripe_client.Account.from_stripe(
        {
            "id": "acct_x",
            "controller": {"type": "application", "stripe_dashboard": {"type": "full"}},
            "requirements": {"current_deadline": 1_800_000_000, "currently_due": ["x"]},
        }
    )
    assert modern.dashboard == "full" and modern.requirements_deadline == 1_800_000_000


def test_the_stand_in_refuses_what_stripe_refuses_on_account_create(standin):
    import stripe

    client = stripe_client._client()
    bad = [
        ({"controller": {"stripe_dashboard": {"type": "fancy"}}}, "controller[stripe_dashboard]"),
        ({"controller": {"fee": {"payer": "account"}}}, "controller[fee]"),
        ({"business_profile": {"nam": "x"}}, "business_profile[nam]"),
        ({"type": "standard", "controller": {"fees": {"payer": "account"}}}, "controller"),
        ({"country": "ZZ"}, "country"),
        (
            {"controller": {"losses": {"payments": "application"}, "fees": {"payer": "account"}}},
            "controller[losses][payments]",
        ),
    ]
    for params, param in bad:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.accounts.create(params=params)  # type: ignore[arg-type]
        assert (caught.value.param or "").startswith(param), params


# --- One account per store ----------------------------------------------------------------


def test_reconnecting_after_a_disconnect_makes_a_new_account(alice, alice_store, standin):
    client = store_client(alice_store, alice)
    client.post("/dashboard/stripe/connect/", {"country": "US"})
    first = connected_account_for(alice_store).stripe_account_id
    standin.call("POST", f"/accounts/{first}/revoke")
    client.get("/dashboard/stripe/refresh/")  # Stripe's 403: the store is disconnected
    assert connected_account_for(alice_store).deauthorized_at is not None
    client.post("/dashboard/stripe/connect/", {"country": "US"})
    client.post("/dashboard/stripe/connect/", {"country": "US"})
    second = connected_account_for(alice_store).stripe_account_id
    assert second != first
    assert len(_accounts_of(standin, alice_store)) == 2


@pytest.fixture
def committed_store(django_db_setup, django_db_blocker, standin):
    """A store whose rows other threads (other connections) can see."""
    import uuid

    from tenants.models import Store
    from tenants.services import store_create

    with django_db_blocker.unblock():
        owner = make_seller(f"alice-{uuid.uuid4().hex[:8]}@example.com")
        store = store_create(
            owner=owner, name="Alice Twice", subdomain=f"twice-{uuid.uuid4().hex[:8]}"
        )
        yield store
        ConnectedAccount.objects.filter(store_id=store.pk).delete()
        Store.objects.filter(pk=store.pk).delete()
        owner.delete()


def test_two_quick_clicks_on_connect_create_one_account(
    committed_store, standin, django_db_blocker
):
    from payments import services

    store = committed_store
    # Stripe takes a second to answer each create, so both clicks are in flight at once.
    standin.call(
        "POST",
        "/faults",
        {"mode": "timeout", "after": "execute", "seconds": 1.0, "count": 2,
         "path_prefix": "/v1/accounts", "method": "POST"},
    )  # fmt: skip
    results: list[object] = []
    start = threading.Barrier(2)

    def click() -> None:
        try:
            start.wait()
            results.append(
                services.connect_start(
                    store=store,
                    email="alice@example.com",
                    country="US",
                    return_url="http://r.example.com/",
                    refresh_url="http://f.example.com/",
                )
            )
        except Exception as exc:  # reported below
            results.append(exc)
        finally:
            connections.close_all()

    with django_db_blocker.unblock():
        threads = [threading.Thread(target=click) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        standin.call("DELETE", "/faults")
        assert all(isinstance(r, str) and "/hosted/onboarding/" in r for r in results), results
        assert len(_accounts_of(standin, store)) == 1
        assert ConnectedAccount.objects.filter(store_id=store.pk).count() == 1


def test_the_create_key_is_the_same_for_the_same_store_and_request(alice_store, standin):
    from payments import services

    services.connect_account_claim(store=alice_store, email="a@example.com", country="US")
    ConnectedAccount.objects.filter(store_id=alice_store.pk).delete()  # our record lost
    services.connect_account_claim(store=alice_store, email="a@example.com", country="US")
    first, again = _create_requests(standin, alice_store)
    assert first["idempotency_key"] == again["idempotency_key"]
    assert again["replayed"] is True  # Stripe answered with the account it already made
    assert len(_accounts_of(standin, alice_store)) == 1


# --- GET writes nothing -------------------------------------------------------------------


def _db_state(store) -> tuple:
    row = ConnectedAccount.objects.filter(store_id=store.pk).values().first()
    store.refresh_from_db()
    return (
        ConnectedAccount.objects.count(),
        row and {k: v for k, v in row.items() if k != "updated_at"},
        row and row["updated_at"],
        store.can_take_charges,
        store.charges_blocked_reason,
    )


def test_refresh_creates_no_account_for_a_store_that_has_none(alice, alice_store, standin):
    response = store_client(alice_store, alice).get("/dashboard/stripe/refresh/")
    assert response.status_code == 302 and response["Location"].endswith("/dashboard/stripe/")
    assert connected_account_for(alice_store) is None
    assert _create_requests(standin, alice_store) == []


def test_refresh_mints_a_new_link_for_the_existing_account_only(alice, alice_store, standin):
    client = store_client(alice_store, alice)
    client.post("/dashboard/stripe/connect/", {"country": "US"})
    before = _db_state(alice_store)
    links = len([r for r in standin.requests("/v1/account_links") if r["method"] == "POST"])
    fresh = client.get("/dashboard/stripe/refresh/")
    assert fresh.status_code == 302 and "/hosted/onboarding/" in fresh["Location"]
    after_links = [r for r in standin.requests("/v1/account_links") if r["method"] == "POST"]
    assert len(after_links) == links + 1
    assert (
        after_links[-1]["params"]["account"] == connected_account_for(alice_store).stripe_account_id
    )
    assert len(_create_requests(standin, alice_store)) == 1
    assert _db_state(alice_store) == before


def test_the_return_page_shows_stripes_answer_and_writes_nothing(alice, alice_store, standin):
    client = store_client(alice_store, alice)
    client.post("/dashboard/stripe/connect/", {"country": "US"})
    account = connected_account_for(alice_store).stripe_account_id
    standin.call("POST", f"/accounts/{account}/complete", {"outcome": "complete"})
    before = _db_state(alice_store)
    page = client.get("/dashboard/stripe/return/")
    assert page.status_code == 200
    assert b"Ready to sell" in page.content and b"Stripe is connected" in page.content
    assert _db_state(alice_store) == before  # saving is the webhook's job
    assert not before[3]  # still not charging until account.updated arrives


def test_the_account_updated_webhook_then_saves_it(
    alice, alice_store, standin, django_capture_on_commit_callbacks
):
    from tests.conftest import main_client
    from tests.payments.conftest import post_event

    store_client(alice_store, alice).post("/dashboard/stripe/connect/", {"country": "JP"})
    account = connected_account_for(alice_store).stripe_account_id
    standin.call("POST", f"/accounts/{account}/complete", {"outcome": "complete"})
    event = standin.events(account=account, type="account.updated")[-1]
    with django_capture_on_commit_callbacks(execute=True):
        post_event(main_client(), standin.event_payload(event))
    alice_store.refresh_from_db()
    assert alice_store.can_take_charges
    assert connected_account_for(alice_store).default_currency == "jpy"
    page = store_client(alice_store, alice).get("/dashboard/stripe/").content.decode()
    assert "Ready to sell" in page and "Stripe settles your sales in JPY (Japan)" in page


# --- The page says things in words -------------------------------------------------------


def test_before_connecting_the_page_states_the_platform_fee(alice, alice_store, standin, settings):
    settings.PLATFORM_FEE_PERCENT = __import__("decimal").Decimal("5.0")
    settings.PLATFORM_FEE_FIXED = 30
    html = (
        store_client(alice_store, alice)
        .get("/dashboard/stripe/", HTTP_ACCEPT_LANGUAGE="en-US")
        .content.decode()
    )
    assert "5% + $0.30 of each sale" in html
    assert "on a $12.00 sale the fee is $0.90" in html
    # A seller in Japan sees it in yen (the fixed part for JPY is its own).
    html = (
        store_client(alice_store, alice)
        .get("/dashboard/stripe/", HTTP_ACCEPT_LANGUAGE="ja")
        .content.decode()
    )
    assert "5% + ¥50 of each sale" in html and "on a ¥1,500 sale the fee is ¥125" in html


def test_a_half_finished_onboarding_lists_what_stripe_needs_in_words(alice, alice_store, standin):
    row = connect_store(alice_store, standin, outcome="complete")
    deadline = datetime(2027, 1, 15, 12, tzinfo=UTC)
    ConnectedAccount.objects.filter(pk=row.pk).update(
        charges_enabled=False,
        requirements_due=[
            "business_profile.mcc",
            "external_account",
            "tos_acceptance.date",
            "tos_acceptance.ip",
            "individual.verification.document",
            "settings.card_issuing.tos_acceptance.fancy_new_field",
        ],
        requirements_deadline=deadline,
    )
    html = store_client(alice_store, alice).get("/dashboard/stripe/").content.decode()
    assert "Action needed at Stripe" in html
    for label in (
        "What your business sells (its industry)",
        "A bank account for your payouts",
        "Accepting Stripe&#x27;s services agreement",
        "An identity document",
        "Other details: fancy new field",
    ):
        assert label in html
    assert html.count("services agreement") == 1  # .date and .ip are one step
    assert "15 January 2027" in html
    for raw in ("business_profile.mcc", "external_account", "tos_acceptance.ip"):
        assert raw not in html


def test_the_deadline_and_requirements_come_from_stripe(alice, alice_store, standin):
    row = connect_store(alice_store, standin, outcome="requirements_due")
    row.refresh_from_db()
    account = standin.call("GET", "/state")["collections"]["accounts"]
    (stripe_view,) = [a for a in account if a["id"] == row.stripe_account_id]
    deadline = stripe_view["requirements"]["current_deadline"]
    assert deadline and row.requirements_deadline == datetime.fromtimestamp(deadline, tz=UTC)
    html = store_client(alice_store, alice).get("/dashboard/stripe/").content.decode()
    assert row.requirements_deadline.strftime("%-d %B %Y") in html
    assert "An identity document" in html and "A bank account for your payouts" in html


def test_return_urls_point_back_to_the_store(alice, alice_store, standin):
    go = store_client(alice_store, alice).post("/dashboard/stripe/connect/", {"country": "US"})
    sent = [r for r in standin.requests("/v1/account_links") if r["method"] == "POST"][-1]
    assert urllib.parse.urlsplit(sent["params"]["return_url"]).path == "/dashboard/stripe/return/"
    assert json.dumps(sent["params"]).count(alice_store.host) == 2
    assert go.status_code == 302


@pytest.mark.parametrize(("country", "currency"), [("US", "usd"), ("FR", "eur"), ("JP", "jpy")])
def test_the_account_calls_a_seller_in_the_us_france_and_japan_sends(
    alice, alice_store, standin, country, currency, capsys
):
    """What each account call sends, from the stand-in's request log (printed with -s)."""
    standin.call("DELETE", "/requests")
    client = store_client(alice_store, alice)
    client.post("/dashboard/stripe/connect/", {"country": country})
    account = connected_account_for(alice_store).stripe_account_id
    standin.call("POST", f"/accounts/{account}/complete", {"outcome": "complete"})
    client.get("/dashboard/stripe/return/")
    log = [
        {
            k: r[k]
            for k in (
                "method",
                "path",
                "stripe_account",
                "idempotency_key",
                "stripe_version",
                "params",
                "status",
            )
        }
        for r in standin.requests("/v1/account")
    ]
    with capsys.disabled():
        print(f"\n--- seller in {country} ---\n{json.dumps(log, indent=1)}")
    create, link, retrieve = log
    assert (create["method"], create["path"], create["status"]) == ("POST", "/v1/accounts", 200)
    assert create["params"]["country"] == country and create["stripe_account"] is None
    assert link["path"] == "/v1/account_links" and link["params"]["account"] == account
    assert link["params"]["type"] == "account_onboarding"
    assert (retrieve["method"], retrieve["path"]) == ("GET", f"/v1/accounts/{account}")
    assert all(r["stripe_version"] == stripe_client.STRIPE_API_VERSION for r in log)
    assert all(r["idempotency_key"] for r in log if r["method"] == "POST")
    assert connected_account_for(alice_store).default_currency == currency
