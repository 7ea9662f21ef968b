"""A limited discount code under 20 concurrent checkouts and 20 concurrent fulfilments
(issue #12): never redeemed beyond its limit.

Threads with their own database connections on committed data (a test transaction would
hide each thread's rows from the others), Stripe through the stand-in over real HTTP.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django_tenants.utils import schema_context

from catalog.discounts import discount_code_create
from catalog.models import DiscountCode
from devtools.stripe_standin import serve_in_thread
from payments import services
from payments.models import CheckoutRecord, CodeHold, Purchase
from payments.platform.models import FeeLedgerEntry
from payments.stripe_client import CheckoutSession
from tenants.services import store_create
from tests.conftest import make_seller
from tests.factories import product_with_file
from tests.live import unique
from tests.payments.conftest import Standin, connect_store

SECRET = "whsec_code_concurrency"


@pytest.fixture
def standin(django_db_setup, committed, settings):
    server, base = serve_in_thread(port=0, webhook_url=None, webhook_secret=SECRET, deliver=False)
    settings.STRIPE_API_BASE = base
    settings.STRIPE_SECRET_KEY = "sk_test_codes"
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    yield Standin(base)
    server.shutdown()


def _store_with_code(standin, *, max_uses: int):
    owner = make_seller(f"{unique('alice')}@example.com")
    store = store_create(owner=owner, name="Alice Codes", subdomain=unique("codes-"))
    connect_store(store, standin)
    product = product_with_file(store, price=2000)
    with schema_context(store.schema_name):
        code = discount_code_create(code="LAST5", kind="percent", value="20", max_uses=max_uses)
    return store, product, code


def _in_threads(count: int, work):
    barrier = threading.Barrier(count, timeout=60)

    def run(n: int):
        barrier.wait()
        try:
            return work(n)
        finally:
            connection.close()  # each thread's own connection

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_twenty_checkouts_racing_for_five_uses_get_five_sessions_and_five_purchases(standin):
    store, product, code = _store_with_code(standin, max_uses=5)

    def checkout(n: int):
        with schema_context(store.schema_name):
            try:
                return services.checkout_start(
                    store=store,
                    product=product,
                    attempt=uuid.uuid4().hex,
                    success_url=f"http://{store.host}/thanks/?session_id={{CHECKOUT_SESSION_ID}}",
                    cancel_url=f"http://{store.host}/",
                    code="last5",
                ).id
            except ValidationError as exc:
                return exc.messages[0]

    answers = _in_threads(20, checkout)
    sessions = [a for a in answers if a.startswith("cs_")]
    assert len(sessions) == 5
    assert answers.count("This code has been used up.") == 15

    for session_id in sessions:
        standin.call("POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com"})

    def confirm(n: int):
        with schema_context(store.schema_name):
            return services.purchase_confirm(store=store, session_id=sessions[n % 5]).pk

    assert len(set(_in_threads(20, confirm))) == 5  # four threads per session, one purchase
    with schema_context(store.schema_name):
        assert DiscountCode.objects.get(pk=code.pk).uses == 5
        assert Purchase.objects.filter(code=code, amount=1600, discount=400).count() == 5
        assert CodeHold.objects.filter(purchase__isnull=False).count() == 5
    assert FeeLedgerEntry.objects.filter(store=store, discount_code="LAST5").count() == 5


def test_twenty_concurrent_fulfilments_never_count_a_code_past_its_limit(standin):
    """Even with every hold gone (paid sessions arriving after their holds lapsed): the
    conditional UPDATE counts five uses; the buyers who paid are still served."""
    store, product, code = _store_with_code(standin, max_uses=5)
    sessions = []
    with schema_context(store.schema_name):
        for _ in range(20):
            session = CheckoutSession(
                id=f"cs_test_{uuid.uuid4().hex}",
                url="",
                status="complete",
                payment_status="paid",
                amount_total=1600,
                currency="usd",
                customer_email="bob@example.com",
                payment_intent_id=f"pi_{uuid.uuid4().hex[:24]}",
                metadata={"store": store.schema_name},
                application_fee_amount=110,
                charge_id=f"ch_{uuid.uuid4().hex[:24]}",
            )
            CheckoutRecord.objects.create(
                session_id=session.id,
                product=product,
                amount=1600,
                currency="usd",
                fee=110,
                fee_percent="5.00",
                fee_fixed=30,
                code=code,
                discount=400,
            )
            sessions.append(session)

    def fulfil(n: int):
        with schema_context(store.schema_name):
            return services.purchase_fulfil(store=store, session=sessions[n])[1]

    assert all(_in_threads(20, fulfil))
    with schema_context(store.schema_name):
        assert DiscountCode.objects.get(pk=code.pk).uses == 5
        assert Purchase.objects.filter(code=code).count() == 20
