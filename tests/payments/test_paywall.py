from __future__ import annotations

import hashlib
from datetime import timedelta

from django.core import mail
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Product, ProductFile
from catalog.storage import private_storage
from payments.models import DownloadGrant, DownloadLog, Purchase, StampedCopy
from payments.platform.models import FeeLedgerEntry
from payments.services import (
    charge_state_record,
    download_open,
    download_token_for,
    download_url_for,
)
from tests.conftest import store_client
from tests.factories import in_schema, pdf_bytes, product_with_file, purchase


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_a_paid_purchase_downloads_the_exact_bytes(alice_store, django_capture_on_commit_callbacks):
    product = product_with_file(alice_store)
    with django_capture_on_commit_callbacks(execute=True):
        bought = purchase(alice_store, product)
    with in_schema(alice_store):
        url = download_url_for(
            Purchase.objects.prefetch_related("grants").get(pk=bought.pk), store=alice_store
        )
    response = store_client(alice_store).get(_path(url))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(pdf_bytes()).hexdigest()
    assert response["Content-Disposition"].startswith('attachment; filename="Field Guide.pdf"')
    with in_schema(alice_store):
        assert DownloadLog.objects.count() == 1
    # one receipt for the buyer, one sale notice for the seller
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "bob@example.com"]
    receipt = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    assert url in receipt.body


def test_one_purchase_and_one_ledger_row_per_session(alice_store):
    from payments.services import purchase_fulfil
    from tests.factories import paid_session

    product = product_with_file(alice_store)
    session = paid_session(alice_store, product)
    with in_schema(alice_store):
        first, created = purchase_fulfil(store=alice_store, session=session)
        again, created_again = purchase_fulfil(store=alice_store, session=session)
        assert created and not created_again and first.pk == again.pk
        assert Purchase.objects.count() == 1
    assert FeeLedgerEntry.objects.filter(checkout_session_id=session.id).count() == 1
    row = FeeLedgerEntry.objects.get(checkout_session_id=session.id)
    assert (row.amount, row.platform_fee, row.store_id) == (1200, 90, alice_store.pk)


def test_a_refund_revokes_the_download_and_a_won_dispute_restores_it(alice_store):
    product = product_with_file(alice_store)
    bought = purchase(alice_store, product)
    with in_schema(alice_store):
        url = download_url_for(
            Purchase.objects.prefetch_related("grants").get(pk=bought.pk), store=alice_store
        )
    client = store_client(alice_store)
    with in_schema(alice_store):
        charge_state_record(
            payment_intent_id=bought.payment_intent_id, dispute_status="needs_response"
        )
    response = client.get(_path(url))
    assert response.status_code == 403 and b"under dispute" in response.content
    with in_schema(alice_store):
        charge_state_record(payment_intent_id=bought.payment_intent_id, dispute_status="won")
    assert client.get(_path(url)).status_code == 200
    with in_schema(alice_store):
        charge_state_record(payment_intent_id=bought.payment_intent_id, refunded=True)
    response = client.get(_path(url))
    assert response.status_code == 410 and b"refunded" in response.content
    assert (
        FeeLedgerEntry.objects.get(checkout_session_id=bought.checkout_session_id).status
        == "refunded"
    )


def test_a_refund_that_arrives_before_the_purchase_still_revokes_it(alice_store):
    product = product_with_file(alice_store)
    with in_schema(alice_store):
        charge_state_record(payment_intent_id="pi_early", charge_id="ch_early", refunded=True)
    bought = purchase(alice_store, product, payment_intent="pi_early")
    with in_schema(alice_store):
        bought.refresh_from_db()
        assert bought.status == Purchase.Status.REFUNDED
        assert bought.grant.revoked_reason == "refunded"


def test_the_download_limit_is_enforced(alice_store):
    product = product_with_file(alice_store, download_limit=2)
    bought = purchase(alice_store, product)
    with in_schema(alice_store):
        url = _path(
            download_url_for(
                Purchase.objects.prefetch_related("grants").get(pk=bought.pk), store=alice_store
            )
        )
    client = store_client(alice_store)
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 429]


def test_an_unknown_token_gets_a_clear_page(alice_store):
    response = store_client(alice_store).get("/d/not-a-real-token/")
    assert response.status_code == 404
    assert b"not valid" in response.content


def test_alices_token_on_mallorys_domain_finds_nothing(alice_store, mallory_store):
    product = product_with_file(alice_store)
    bought = purchase(alice_store, product)
    with in_schema(alice_store):
        url = _path(
            download_url_for(
                Purchase.objects.prefetch_related("grants").get(pk=bought.pk), store=alice_store
            )
        )
    assert store_client(mallory_store).get(url).status_code == 404
    assert store_client(alice_store).get(url).status_code == 200


def test_an_allowed_download_is_one_statement_that_counts_and_logs(alice_store):
    """Check, count, log and the file to deliver in one statement
    (payments.services._OPEN_FAST); a refusal takes the checks one by one and counts
    nothing."""
    product = product_with_file(alice_store, download_limit=2)
    bought = purchase(alice_store, product)
    with in_schema(alice_store):
        url = _path(
            download_url_for(
                Purchase.objects.prefetch_related("grants").get(pk=bought.pk), store=alice_store
            )
        )
    client = store_client(alice_store)
    client.get("/")  # warm the host cache
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == pdf_bytes()
        assert response["Content-Disposition"].startswith('attachment; filename="Field Guide.pdf"')
        statements = [
            q["sql"]
            for q in queries.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "SET"))
        ]
        assert len(statements) == 1, statements
    assert client.get(url).status_code == 429  # the limit: refused, not counted
    with in_schema(alice_store):
        grant = DownloadGrant.objects.get(purchase=bought)
        assert grant.download_count == 2
        assert DownloadLog.objects.filter(grant=grant).count() == 2


def test_a_refused_download_says_why_and_counts_nothing(alice_store):
    product = product_with_file(alice_store)
    bought = purchase(alice_store, product)
    with in_schema(alice_store):
        token = download_token_for(bought, store=alice_store)
        grants = DownloadGrant.objects.filter(purchase=bought)
        grants.update(expires_at=timezone.now() - timedelta(minutes=1))
        assert download_open(token=token, ip=None, user_agent="").reason == "expired"
        grants.update(expires_at=None, revoked_at=timezone.now(), revoked_reason="refunded")
        assert download_open(token=token, ip=None, user_agent="").reason == "refunded"
        assert download_open(token=token + "x", ip=None, user_agent="").reason == "unknown"
        assert grants.get().download_count == 0 and not DownloadLog.objects.exists()


def test_a_grant_without_a_file_slot_serves_the_products_own_file_in_one_statement(
    alice_store,
):
    """A grant written before files had slots (no slot, no version)."""
    data = pdf_bytes(2)
    with in_schema(alice_store):
        name = private_storage().save("products/legacy.pdf", ContentFile(data))
        product = Product.objects.create(
            title="Legacy", slug="legacy", price=900, status="published", file=name,
            file_name="Legacy Guide", page_count=2, file_size=len(data), sha256="0" * 64,
        )  # fmt: skip
    bought = purchase(alice_store, product)
    with in_schema(alice_store):
        assert DownloadGrant.objects.get(purchase=bought).slot_id is None
        token = download_token_for(bought, store=alice_store)
        with CaptureQueriesContext(connection) as queries:
            decision = download_open(token=token, ip=None, user_agent="")
        assert len(queries.captured_queries) == 1
        assert (decision.allowed, decision.file_name, decision.filename) == (
            True,
            name,
            "Legacy Guide.pdf",
        )


def test_a_stamped_copy_of_an_earlier_version_is_not_delivered(
    alice_store, django_capture_on_commit_callbacks
):
    product = product_with_file(alice_store, stamping=True)
    with django_capture_on_commit_callbacks(execute=True):
        bought = purchase(alice_store, product, email="bob@example.com")
    with in_schema(alice_store):
        token = download_token_for(bought, store=alice_store)
        copy = StampedCopy.objects.get(purchase=bought, state="ready")
        older = ProductFile.objects.create(
            product=product, file="products/older.pdf", file_name="old.pdf", page_count=1,
            file_size=1, sha256="0" * 64,
        )  # fmt: skip
        StampedCopy.objects.filter(pk=copy.pk).update(version=older)
        decision = download_open(token=token, ip=None, user_agent="")
        assert (decision.allowed, decision.reason) == (False, "preparing")
        assert DownloadGrant.objects.get(purchase=bought).download_count == 0


def test_a_download_costs_at_most_three_queries(alice_store):
    product = product_with_file(alice_store)
    bought = purchase(alice_store, product)
    with in_schema(alice_store):
        url = _path(
            download_url_for(
                Purchase.objects.prefetch_related("grants").get(pk=bought.pk), store=alice_store
            )
        )
    client = store_client(alice_store)
    client.get("/")  # warm the host cache
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    statements = [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "SET"))
    ]
    assert len(statements) <= 3, statements


def test_a_suspended_store_serves_no_downloads(alice_store):
    from tenants.services import store_suspend

    product = product_with_file(alice_store)
    bought = purchase(alice_store, product)
    with in_schema(alice_store):
        url = _path(
            download_url_for(
                Purchase.objects.prefetch_related("grants").get(pk=bought.pk), store=alice_store
            )
        )
    store_suspend(store=alice_store, reason="Review")
    assert store_client(alice_store).get(url).status_code == 503


# --- The download's statement, prepared (tenants.prepared) ---------------------------------


def _download_statements(store, token: str) -> list[str]:
    """The statements one allowed download sends on the store's own (cell) connection."""
    from tenants import cells

    db = cells.connection_for(store)
    with CaptureQueriesContext(db) as queries:
        decision = download_open(token=token, ip="203.0.113.9", user_agent="Bob's reader")
    assert decision.allowed, decision.reason
    return [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SET")]


def test_a_download_is_prepared_once_per_store_then_only_executed_and_finds_nothing_of_another(
    alice_store, mallory_store
):
    """Alice's and Mallory's schemas each get their own prepared statement on the
    connection; the second download only EXECUTEs; a statement prepared in one store's
    schema never finds, counts or logs the other store's grant."""
    tokens = {}
    for store, email in ((alice_store, "bob@example.com"), (mallory_store, "carol@example.com")):
        bought = purchase(store, product_with_file(store), email=email)
        with in_schema(store):
            tokens[store.pk] = (bought, download_token_for(bought, store=store))
    for store, other in ((alice_store, mallory_store), (mallory_store, alice_store)):
        token, other_token = tokens[store.pk][1], tokens[other.pk][1]
        with in_schema(store):
            first = _download_statements(store, token)
            again = _download_statements(store, token)
            assert len(first) == 1 and first[0].lstrip().startswith("PREPARE pp_open_fast_")
            assert "EXECUTE pp_open_fast_" in first[0]
            assert len(again) == 1 and again[0].startswith("EXECUTE pp_open_fast_"), again
            assert download_open(token=other_token, ip=None, user_agent="").reason == "unknown"
    for store in (alice_store, mallory_store):
        with in_schema(store):
            grant = DownloadGrant.objects.get(purchase=tokens[store.pk][0])
            assert grant.download_count == 2
            logs = DownloadLog.objects.filter(grant=grant)
            assert logs.count() == 2 == DownloadLog.objects.count()
            assert {(str(log.ip), log.user_agent) for log in logs} == {
                ("203.0.113.9", "Bob's reader")
            }


def test_a_download_keeps_every_check_when_prepared(alice_store):
    """The prepared statement still refuses what it must: a limit reached, a revoked or an
    expired grant (and counts nothing then)."""
    product = product_with_file(alice_store, download_limit=2)
    bought = purchase(alice_store, product)
    with in_schema(alice_store):
        token = download_token_for(bought, store=alice_store)
        for _ in range(2):
            assert download_open(token=token, ip=None, user_agent="").allowed
        assert download_open(token=token, ip=None, user_agent="").reason == "limit"
        grants = DownloadGrant.objects.filter(purchase=bought)
        grants.update(download_limit=None)
        assert download_open(token=token, ip=None, user_agent="").allowed
        grants.update(expires_at=timezone.now() - timedelta(seconds=1))
        assert download_open(token=token, ip=None, user_agent="").reason == "expired"
        grants.update(expires_at=None, revoked_at=timezone.now(), revoked_reason="refunded")
        assert download_open(token=token, ip=None, user_agent="").reason == "refunded"
        assert grants.get().download_count == 3 == DownloadLog.objects.count()


def test_a_download_prepares_again_when_postgres_lost_the_statement_or_its_plan(
    committed_store,
):
    """Outside a transaction (a download's own): a statement the server no longer has
    (DEALLOCATE, 26000), or whose plan a migration made unusable (a column it returns
    changed type, 0A000), is prepared again and the download goes through, counted once."""
    from tenants import cells

    store = committed_store
    bought = purchase(store, product_with_file(store))
    with in_schema(store):
        token = download_token_for(bought, store=store)
        assert download_open(token=token, ip=None, user_agent="").allowed
        db = cells.connection_for(store)
        assert not db.in_atomic_block
        with db.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")
        assert download_open(token=token, ip=None, user_agent="").allowed
        with db.cursor() as cursor:
            cursor.execute("ALTER TABLE catalog_product ALTER COLUMN slug TYPE varchar(200)")
        assert download_open(token=token, ip=None, user_agent="").allowed
        assert download_open(token=token, ip=None, user_agent="").allowed
        grant = DownloadGrant.objects.get(purchase=bought)
        assert grant.download_count == 4 == DownloadLog.objects.filter(grant=grant).count()
