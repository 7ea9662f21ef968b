from __future__ import annotations

import re
import time
import urllib.parse
import urllib.request

from django.core import mail

from payments.models import Purchase
from payments.platform.models import FeeLedgerEntry, StripeEvent
from tests.conftest import main_client, store_client
from tests.factories import in_schema, pdf_bytes, product_with_file
from tests.payments.conftest import checkout_session_id, connect_store, post_event

ATTEMPT = "0123456789abcdef0123456789abcdef"


def _buy(store, product, attempt: str = ATTEMPT):
    return store_client(store).post(f"/buy/{product.slug}/", {"attempt": attempt})


def test_the_whole_sale_through_the_stand_in(
    alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store, price=1999)
    response = _buy(alice_store, product)
    assert response.status_code == 302
    session_id = checkout_session_id(response)

    created = [r for r in standin.requests("/v1/checkout/sessions") if r["method"] == "POST"][-1]
    account = alice_store.stripe_account.stripe_account_id
    assert created["stripe_account"] == account
    assert created["idempotency_key"]
    assert int(created["params"]["payment_intent_data"]["application_fee_amount"]) == 130  # 5% + 30
    assert created["params"]["metadata"]["store"] == alice_store.schema_name
    assert "{CHECKOUT_SESSION_ID}" in created["params"]["success_url"]

    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com"})

    # The buyer lands before any webhook: the thank-you page asks Stripe itself.
    with django_capture_on_commit_callbacks(execute=True):
        thanks = store_client(alice_store).get(f"/thanks/?session_id={session_id}")
    assert thanks.status_code == 200 and b"Download PDF" in thanks.content

    # Then every event the stand-in made arrives, signed; nothing doubles.
    client = main_client()
    for event in standin.events(account=account):
        with django_capture_on_commit_callbacks(execute=True):
            assert post_event(client, standin.event_payload(event)).status_code == 200
    with in_schema(alice_store):
        purchase = Purchase.objects.get()
        assert (purchase.amount, purchase.platform_fee, purchase.buyer_email) == (
            1999,
            130,
            "bob@example.com",
        )
    assert FeeLedgerEntry.objects.filter(checkout_session_id=session_id).count() == 1
    assert [m.to for m in mail.outbox].count(["bob@example.com"]) == 1

    download = (
        re.search(rb'href="http://alice\.localhost:8000(/d/[^"]+)"', thanks.content)
        .group(1)
        .decode()
    )
    body = b"".join(store_client(alice_store).get(download).streaming_content)
    assert body == pdf_bytes()


def test_a_retried_click_reuses_the_same_checkout_session(alice_store, standin):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store)
    first, second = (
        checkout_session_id(_buy(alice_store, product)),
        checkout_session_id(_buy(alice_store, product)),
    )
    assert first == second
    assert checkout_session_id(_buy(alice_store, product, attempt="f" * 32)) != first


def test_a_checkout_costs_four_queries_and_a_retried_click_records_nothing_new(
    alice_store, standin
):
    """The product, the store's Stripe account, the record (one INSERT ... ON CONFLICT:
    no SELECT, no transaction around it) and the store's status after the Stripe call;
    each a prepared statement (tenants.prepared), so the second click only EXECUTEs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from payments.models import CheckoutRecord

    connect_store(alice_store, standin)
    product = product_with_file(alice_store, price=1500)
    client = store_client(alice_store)
    client.get("/")  # warm the host cache
    attempt = "fedcba9876543210fedcba9876543210"
    for click in range(2):  # the second is a retried click: the same session, one record
        with CaptureQueriesContext(connection) as queries:
            response = client.post(f"/buy/{product.slug}/", {"attempt": attempt})
        assert response.status_code == 302
        statements = [
            q["sql"]
            for q in queries.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "SET"))
        ]
        assert len(statements) == 4, statements
        assert not any(s.startswith(("BEGIN", "COMMIT")) for s in statements), statements
        if click:
            assert all(s.startswith("EXECUTE pp_") for s in statements), statements
    with in_schema(alice_store):
        record = CheckoutRecord.objects.get()
    assert record.session_id == checkout_session_id(response)
    assert (record.amount, record.currency, record.status) == (1500, "usd", "open")
    assert record.expires_at is not None and record.created_at is not None


def test_a_store_that_cannot_charge_gets_no_session(alice_store, standin):
    product = product_with_file(alice_store)
    response = _buy(alice_store, product)
    assert response.status_code == 409
    assert b"cannot take payments yet" in response.content
    assert not [
        r
        for r in standin.requests("/v1/checkout/sessions")
        if r["method"] == "POST"
        and r["params"].get("metadata", {}).get("store") == alice_store.schema_name
    ]


def test_every_checkout_reads_the_product_the_account_and_the_store_afresh(alice_store, standin):
    """Prepared statements keep plans, never rows: a product taken down, an account whose
    charges were switched off or that was disconnected stop the very next checkout, even
    when written behind the models' backs (QuerySet.update, no signal, no cache to drop)."""
    from catalog.models import Product
    from payments.platform.models import ConnectedAccount
    from payments.platform.services import connected_account_deauthorize

    row = connect_store(alice_store, standin)
    product = product_with_file(alice_store)
    for n in range(2):  # the second runs the statements prepared by the first
        assert _buy(alice_store, product, attempt=f"{n}" * 32).status_code == 302
    with in_schema(alice_store):
        Product.objects.filter(pk=product.pk).update(status="draft")
    assert _buy(alice_store, product, attempt="2" * 32).status_code == 404
    with in_schema(alice_store):
        Product.objects.filter(pk=product.pk).update(status="published")
    assert _buy(alice_store, product, attempt="3" * 32).status_code == 302
    ConnectedAccount.objects.filter(pk=row.pk).update(charges_enabled=False)
    refused = _buy(alice_store, product, attempt="4" * 32)
    assert refused.status_code == 409 and b"cannot take payments yet" in refused.content
    ConnectedAccount.objects.filter(pk=row.pk).update(charges_enabled=True)
    again = _buy(alice_store, product, attempt="5" * 32)
    assert again.status_code == 302, again.content.decode()[-3000:]
    connected_account_deauthorize(account_id=row.stripe_account_id)
    assert _buy(alice_store, product, attempt="6" * 32).status_code == 409
    made = [
        r["params"]["line_items"][0]["price_data"]["product_data"]["name"]
        for r in standin.requests("/v1/checkout/sessions")
        if r["method"] == "POST"
        and r["status"] == 200
        and r["stripe_account"] == row.stripe_account_id
    ]
    assert len(made) == 4  # none for the draft, the switched-off or the disconnected account


def test_a_store_suspended_while_stripe_was_answering_gets_its_new_session_expired(
    alice_store, standin
):
    """The status check after the Stripe call reads the control database, not the
    request's row: the session just made is expired and the buyer is refused."""
    import pytest
    from django.core.exceptions import ValidationError

    from payments.services import checkout_start, product_for_checkout
    from tenants.models import Store

    connect_store(alice_store, standin)
    product = product_with_file(alice_store)
    assert _buy(alice_store, product).status_code == 302  # its statements are prepared now
    alice_store.refresh_from_db()
    Store.objects.filter(pk=alice_store.pk).update(status=Store.Status.SUSPENDED)
    with in_schema(alice_store):
        for_sale = product_for_checkout(slug=product.slug)
        assert for_sale is not None and for_sale.pk == product.pk
        with pytest.raises(ValidationError, match="not taking orders"):
            checkout_start(
                store=alice_store,  # as the request read it: still active
                product=for_sale,
                attempt="7" * 32,
                success_url="http://x/thanks/",
                cancel_url="http://x/",
            )
    expires = [
        r for r in standin.requests("/v1/checkout/sessions/") if r["path"].endswith("/expire")
    ]
    assert len(expires) == 1 and expires[0]["status"] == 200
    state = standin.call("GET", "/state")["collections"]["sessions"]
    assert [s["status"] for s in state if expires[0]["path"].split("/")[4] == s["id"]] == [
        "expired"
    ]


def test_a_draft_product_cannot_be_bought(alice_store, standin):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store, status="draft")
    assert _buy(alice_store, product).status_code == 404


def test_stripe_failures_give_the_buyer_a_try_again_page(alice_store, standin, settings):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store)
    for mode in ("500", "429"):
        standin.call("POST", "/faults", {"mode": mode, "count": 1, "path_prefix": "/v1/checkout"})
        response = _buy(alice_store, product)
        assert response.status_code == 503, mode
        assert b"Try again" in response.content
    settings.STRIPE_TIMEOUT = 0.5
    standin.call(
        "POST",
        "/faults",
        {"mode": "timeout", "count": 1, "path_prefix": "/v1/checkout", "seconds": 2},
    )
    response = _buy(alice_store, product)
    assert response.status_code == 503 and b"Try again" in response.content
    # And the retried attempt goes through once Stripe answers again.
    assert _buy(alice_store, product).status_code == 302


def _signed_body_event(alice_store, standin):
    connect_store(alice_store, standin)
    account = alice_store.stripe_account.stripe_account_id
    return standin.event_payload(standin.events(account=account, type="account.updated")[-1])


def test_forged_unsigned_and_stale_webhooks_change_nothing(alice_store, standin):
    event = _signed_body_event(alice_store, standin)
    client = main_client()
    before = StripeEvent.objects.count()
    assert post_event(client, event, secret="whsec_wrong").status_code == 400
    assert post_event(client, event, at=int(time.time()) - 301).status_code == 400
    assert (
        client.post("/stripe/webhook/", data=b"{}", content_type="application/json").status_code
        == 400
    )
    assert client.post(
        "/stripe/webhook/",
        data=b"x" * 600_000,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE="t=1,v1=00",
    ).status_code in (400, 413)
    assert StripeEvent.objects.count() == before


def test_a_replayed_event_id_with_a_new_body_changes_nothing(alice_store, standin):
    event = _signed_body_event(alice_store, standin)
    client = main_client()
    assert post_event(client, event).status_code == 200
    stored = StripeEvent.objects.get(event_id=event["id"])
    forged = dict(event, type="account.application.deauthorized")
    response = post_event(client, forged)
    assert response.status_code == 200 and response.json()["duplicate"] is True
    stored.refresh_from_db()
    assert stored.type == "account.updated" and stored.payload == event


def test_account_updates_reach_the_right_store(
    alice_store, mallory_store, standin, django_capture_on_commit_callbacks
):
    from payments import services
    from payments.platform.services import connected_account_for

    for store in (alice_store, mallory_store):
        services.connect_start(
            store=store,
            email="x@example.com",
            country="US",
            return_url="http://r/",
            refresh_url="http://f/",
        )
    alice_account = connected_account_for(alice_store).stripe_account_id
    standin.call("POST", f"/accounts/{alice_account}/complete", {"outcome": "requirements_due"})
    event = standin.event_payload(standin.events(account=alice_account, type="account.updated")[-1])
    with django_capture_on_commit_callbacks(execute=True):
        post_event(main_client(), event)
    alice_store.refresh_from_db()
    mallory_store.refresh_from_db()
    assert connected_account_for(alice_store).details_submitted is True
    assert connected_account_for(mallory_store).details_submitted is False
    assert not alice_store.can_take_charges


def test_onboarding_not_connected_then_requirements_due_then_ready_then_deauthorized(
    alice, alice_store, standin, django_capture_on_commit_callbacks
):
    client = store_client(alice_store, alice)
    assert b"Not connected" in client.get("/dashboard/stripe/").content
    go = client.post("/dashboard/stripe/connect/", {"country": "US"})
    assert go.status_code == 302 and "/hosted/onboarding/" in go["Location"]
    link = urllib.parse.urlsplit(go["Location"])
    # The seller leaves with requirements due; the return URL must not trust the redirect.
    opener = urllib.request.build_opener(NoRedirect)

    def onboard(path: str, action: str):
        opener.open(urllib.request.Request(f"{standin.base}{path}"), timeout=10).read()  # the page
        form = urllib.parse.urlencode({"action": action}).encode()
        return opener.open(urllib.request.Request(f"{standin.base}{path}", data=form), timeout=10)

    back = onboard(link.path, "requirements_due")
    assert "/dashboard/stripe/return/" in back.headers["Location"]
    page = client.get("/dashboard/stripe/return/", follow=True).content
    assert b"Action needed at Stripe" in page

    # The same link is single-use: a second visit goes to the refresh URL.
    again = opener.open(urllib.request.Request(f"{standin.base}{link.path}"), timeout=10)
    assert "/dashboard/stripe/refresh/" in again.headers["Location"]
    fresh = client.get("/dashboard/stripe/refresh/")
    assert fresh.status_code == 302 and fresh["Location"] != go["Location"]
    onboard(urllib.parse.urlsplit(fresh["Location"]).path, "complete")
    assert b"Ready to sell" in client.get("/dashboard/stripe/return/", follow=True).content

    account = alice_store.stripe_account.stripe_account_id
    standin.call("POST", f"/accounts/{account}/deauthorize")
    event = standin.event_payload(
        standin.events(account=account, type="account.application.deauthorized")[-1]
    )
    with django_capture_on_commit_callbacks(execute=True):
        post_event(main_client(), event)
    page = client.get("/dashboard/stripe/").content
    assert b"Disconnected" in page and b"Reconnect" in page
    alice_store.refresh_from_db()
    assert not alice_store.can_take_charges


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

    def http_error_302(self, req, fp, code, msg, headers):
        return fp

    http_error_303 = http_error_302


def test_reconciliation_creates_purchases_for_sessions_paid_at_stripe(alice_store, standin):
    from payments.tasks import reconcile_store

    connect_store(alice_store, standin)
    product = product_with_file(alice_store)
    session_id = checkout_session_id(_buy(alice_store, product))
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "carol@example.com"})
    # No webhook arrived and the buyer closed the tab before the thank-you page.
    with in_schema(alice_store):
        assert Purchase.objects.count() == 0
        assert reconcile_store() == 1
        assert reconcile_store() == 0
        assert Purchase.objects.get().buyer_email == "carol@example.com"


def test_a_refund_from_the_dashboard_goes_through_stripe_and_revokes_access(
    alice, alice_store, standin
):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store)
    session_id = checkout_session_id(_buy(alice_store, product))
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com"})
    store_client(alice_store).get(f"/thanks/?session_id={session_id}")
    with in_schema(alice_store):
        sale = Purchase.objects.get()
    client = store_client(alice_store, alice)
    form = {"amount": "12.00", "reason": "requested_by_customer", "attempt": "refund-attempt-1"}
    response = client.post(f"/dashboard/sales/{sale.uid}/refund/", form, follow=True)
    assert b"Refunded $12.00 to bob@example.com" in response.content
    refund = [r for r in standin.requests("/v1/refunds") if r["method"] == "POST"][-1]
    assert refund["stripe_account"] == alice_store.stripe_account.stripe_account_id
    assert refund["params"]["refund_application_fee"] in ("true", True)
    with in_schema(alice_store):
        sale.refresh_from_db()
        assert sale.status == "refunded" and sale.grant.revoked_reason == "refunded"
    again = client.post(
        f"/dashboard/sales/{sale.uid}/refund/", {**form, "attempt": "refund-attempt-2"}, follow=True
    )
    assert b"already been refunded" in again.content


def test_a_refund_stripe_refuses_changes_nothing(alice, alice_store, standin):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store)
    session_id = checkout_session_id(_buy(alice_store, product))
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com"})
    store_client(alice_store).get(f"/thanks/?session_id={session_id}")
    with in_schema(alice_store):
        sale = Purchase.objects.get()
    standin.call("POST", "/faults", {"mode": "500", "count": 1, "path_prefix": "/v1/refunds"})
    response = store_client(alice_store, alice).post(
        f"/dashboard/sales/{sale.uid}/refund/",
        {"amount": "12.00", "reason": "duplicate", "attempt": "refund-attempt-1"},
        follow=True,
    )
    assert b"Stripe did not refund this sale" in response.content
    with in_schema(alice_store):
        sale.refresh_from_db()
        assert sale.status == "paid" and sale.grant.revoked_at is None
