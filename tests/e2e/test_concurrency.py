from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django_tenants.utils import schema_context

from payments.models import Purchase
from payments.platform.models import FeeLedgerEntry
from payments.services import download_token_for
from tenants.services import store_create
from tests.conftest import make_seller
from tests.factories import product_with_file
from tests.live import unique
from tests.payments.conftest import connect_store, sign


class Standin:
    def __init__(self, live):
        self.live = live
        self.base = live.stripe_base

    def call(self, method, path, body=None):
        return self.live.standin(method, f"/_standin{path}", body)


def _get(
    port: int, host: str, path: str, method: str = "GET", body: bytes | None = None, headers=None
):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def _store_with_product(live, **product_kwargs):
    owner = make_seller(f"{unique('alice')}@example.com")
    store = store_create(owner=owner, name="Alice Live", subdomain=unique("alice-"))
    connect_store(store, Standin(live))
    return store, product_with_file(store, **product_kwargs)


def _wait_for(predicate, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def test_fifty_deliveries_and_the_thank_you_page_at_once_make_one_purchase(
    live, live_settings, committed
):
    store, product = _store_with_product(live)
    standin = Standin(live)
    from payments.services import checkout_start

    with schema_context(store.schema_name):
        session = checkout_start(
            store=store,
            product=product,
            attempt="b" * 32,
            success_url=f"http://{store.host}/thanks/?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"http://{store.host}/",
        )
    standin.call("POST", "/config", {"deliver": False})  # we deliver, 50 times at once
    try:
        standin.call("POST", f"/sessions/{session.id}/pay", {"email": "bob@example.com"})
    finally:
        standin.call("POST", "/config", {"deliver": True})
    account = store.stripe_account.stripe_account_id
    events = standin.call("GET", f"/events?account={account}&type=checkout.session.completed")[
        "data"
    ]
    event = {k: v for k, v in events[-1].items() if k != "delivery"}
    body = json.dumps(event).encode()

    barrier = threading.Barrier(51, timeout=60)

    def deliver(_):
        barrier.wait()
        return _get(
            live.web_port,
            "localhost",
            "/stripe/webhook/",
            "POST",
            body,
            {
                "Content-Type": "application/json",
                "Stripe-Signature": sign(body, secret=live.webhook_secret),
            },
        )[0]

    def thanks(_):
        barrier.wait()
        return _get(live.web_port, store.host, f"/thanks/?session_id={session.id}")[0]

    with ThreadPoolExecutor(max_workers=51) as pool:
        futures = [pool.submit(deliver, i) for i in range(50)] + [pool.submit(thanks, 0)]
        results = [f.result(timeout=120) for f in futures]
    assert set(results) == {200}

    with schema_context(store.schema_name):
        assert _wait_for(lambda: Purchase.objects.filter(receipt_sent_at__isnull=False).exists())
        time.sleep(1.0)  # anything doubled would show by now
        assert Purchase.objects.count() == 1
    assert FeeLedgerEntry.objects.filter(checkout_session_id=session.id).count() == 1
    with schema_context(store.schema_name):
        order = str(Purchase.objects.get().uid)
    receipts = [
        p
        for p in (live.artifacts / "mail").glob("*.log")
        if f"Order: {order}" in p.read_text(errors="replace")
    ]
    assert len(receipts) == 1


def test_twenty_concurrent_downloads_never_pass_the_limit(live, live_settings, committed):
    store, product = _store_with_product(live, download_limit=3)
    from tests.factories import purchase

    bought = purchase(store, product)
    with schema_context(store.schema_name):
        token = download_token_for(
            Purchase.objects.prefetch_related("grants").get(pk=bought.pk), store=store
        )
    barrier = threading.Barrier(20, timeout=60)

    def download(_):
        barrier.wait()
        return _get(live.web_port, store.host, f"/d/{token}/")[0]

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(download, range(20)))
    assert codes.count(200) == 3
    assert codes.count(429) == 17
    with schema_context(store.schema_name):
        assert Purchase.objects.get(pk=bought.pk).grant.download_count == 3
