"""Refunds from the sales list under concurrent clicks (issue #12): a double click (two
POSTs of one form at the same instant) makes one refund at Stripe and one email; two tabs
refunding more than remains between them get one refund and a clear "only … left".

Threads with their own database connections on committed data (a test transaction would
hide each thread's rows from the others), Stripe through the stand-in over real HTTP.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.db import connection
from django_tenants.utils import schema_context

from devtools.stripe_standin import serve_in_thread
from payments import services
from payments.models import Purchase, Refund
from tenants.services import store_create
from tests.conftest import make_seller, store_client
from tests.factories import product_with_file
from tests.live import unique
from tests.payments.conftest import Standin, connect_store

SECRET = "whsec_refund_concurrency"


@pytest.fixture
def standin(django_db_setup, committed, settings):
    server, base = serve_in_thread(port=0, webhook_url=None, webhook_secret=SECRET, deliver=False)
    settings.STRIPE_API_BASE = base
    settings.STRIPE_SECRET_KEY = "sk_test_refunds"
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    yield Standin(base)
    server.shutdown()


def _sold(standin):
    owner = make_seller(f"{unique('alice')}@example.com")
    store = store_create(owner=owner, name="Alice Refunds", subdomain=unique("refunds-"))
    connect_store(store, standin)
    product = product_with_file(store, price=2000)
    with schema_context(store.schema_name):
        session = services.checkout_start(
            store=store,
            product=product,
            attempt=uuid.uuid4().hex,
            success_url=f"http://{store.host}/thanks/?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"http://{store.host}/",
        )
    standin.call("POST", f"/sessions/{session.id}/pay", {"email": "bob@example.com"})
    with schema_context(store.schema_name):
        purchase = services.purchase_confirm(store=store, session_id=session.id)
    return owner, store, purchase


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


def _posts(standin, store) -> list[dict]:
    account = store.stripe_account.stripe_account_id
    return [
        r
        for r in standin.requests("/v1/refunds")
        if r["method"] == "POST" and r["stripe_account"] == account
    ]


def _messages(page: bytes) -> str:
    text = page.decode()
    start = text.find('<div class="messages">')
    return text[start : text.find("</div></div>", start)]


def test_a_double_click_on_refund_makes_one_refund_and_one_email(standin):
    owner, store, purchase = _sold(standin)
    url = f"/dashboard/sales/{purchase.uid}/refund/"
    form = {"amount": "5.00", "reason": "requested_by_customer", "attempt": "double-click-1"}
    mail.outbox.clear()

    def click(n: int) -> str:
        client = store_client(store, owner)
        return _messages(client.post(url, form, follow=True).content)

    said = _in_threads(2, click)
    assert sum("Refunded $5.00 to bob@example.com; $15.00 remains." in s for s in said) == 1
    assert sum("This refund of $5.00 was already made." in s for s in said) == 1
    assert len(_posts(standin, store)) == 1
    with schema_context(store.schema_name):
        assert Refund.objects.filter(purchase=purchase).count() == 1
        sale = Purchase.objects.get(pk=purchase.pk)
        assert (sale.status, sale.amount_refunded) == ("paid", 500)
    told = [m for m in mail.outbox if m.subject.startswith("Refund from Alice Refunds")]
    assert len(told) == 1


def test_two_tabs_refunding_more_than_remains_between_them_make_one_refund(standin):
    owner, store, purchase = _sold(standin)
    url = f"/dashboard/sales/{purchase.uid}/refund/"

    def click(n: int) -> str:
        client = store_client(store, owner)
        form = {"amount": "15.00", "reason": "duplicate", "attempt": f"tab-{n}-{uuid.uuid4().hex}"}
        return _messages(client.post(url, form, follow=True).content)

    said = _in_threads(2, click)
    assert sum("Refunded $15.00 to bob@example.com; $5.00 remains." in s for s in said) == 1
    assert (
        sum(
            "Only $5.00 of this sale is left to refund; $15.00 is more than that." in s
            for s in said
        )
        == 1
    )
    assert len(_posts(standin, store)) == 1
    with schema_context(store.schema_name):
        assert Purchase.objects.get(pk=purchase.pk).amount_refunded == 1500
