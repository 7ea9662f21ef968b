"""The Stripe stand-in on a thread, reached by the real `stripe` library over HTTP.

Webhook deliveries are held (the test process has no server); tests fetch the events the
stand-in made and post them to our endpoint signed exactly as Stripe signs them.
"""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from devtools.stripe_standin import serve_in_thread
from devtools.stripe_standin import sign as standin_sign

SECRET = "whsec_tests_secret"


@pytest.fixture(scope="session")
def _standin_server():
    server, base = serve_in_thread(port=0, webhook_url=None, webhook_secret=SECRET, deliver=False)
    yield base
    server.shutdown()


class Standin:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, body: dict | None = None):
        request = urllib.request.Request(
            f"{self.base}/_standin{path}",
            method=method,
            data=json.dumps(body).encode()
            if body is not None
            else (b"{}" if method != "GET" else None),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def requests(self, prefix: str = "") -> list[dict]:
        data = self.call("GET", f"/requests?path_prefix={prefix}")
        return data["data"] if isinstance(data, dict) else data

    def events(self, **filters: str) -> list[dict]:
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        data = self.call("GET", f"/events?{query}")
        return data["data"] if isinstance(data, dict) else data

    @staticmethod
    def event_payload(event: dict) -> dict:
        """The event as Stripe sends it (without the stand-in's delivery record)."""
        return {k: v for k, v in event.items() if k != "delivery"}


@pytest.fixture
def standin(_standin_server, settings) -> Standin:
    settings.STRIPE_API_BASE = _standin_server
    settings.STRIPE_SECRET_KEY = "sk_test_tests"
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    helper = Standin(_standin_server)
    helper.call("DELETE", "/faults")
    return helper


def sign(body: bytes, *, secret: str = SECRET, at: int | None = None) -> str:
    """The header Stripe would send: the stand-in's signer, with the suite's secret."""
    return standin_sign(body, secret, at)


def post_event(client, event: dict, *, secret: str = SECRET, at: int | None = None):
    body = json.dumps(event).encode()
    return client.post(
        "/stripe/webhook/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body, secret=secret, at=at),
    )


def checkout_session_id(response) -> str:
    """The Checkout Session id a /buy/ redirect to the stand-in's hosted page names."""
    return re.search(r"/hosted/checkout/(cs_[A-Za-z0-9_]+)", response["Location"]).group(1)


def events_deliver(
    standin: Standin, account: str, capture, *, seen: set[str] | None = None
) -> list:
    """Post every event of the account not posted yet (signed as Stripe signs them), each
    with its on-commit callbacks run; the inbox rows, in order."""
    from payments.platform.models import StripeEvent
    from tests.conftest import main_client

    seen = seen if seen is not None else set()
    rows = []
    for event in standin.events(account=account):
        if event["id"] in seen:
            continue
        seen.add(event["id"])
        with capture(execute=True):
            assert post_event(main_client(), standin.event_payload(event)).status_code == 200
        rows.append(StripeEvent.objects.get(event_id=event["id"]))
    return rows


def connect_store(store, standin: Standin, *, outcome: str = "complete", country: str = "US"):
    """Connect a store's Stripe account through the stand-in, as onboarding would."""
    from payments import services

    row = services.connect_account_claim(store=store, email="owner@example.com", country=country)
    standin.call("POST", f"/accounts/{row.stripe_account_id}/complete", {"outcome": outcome})
    services.connect_refresh(store=store)
    store.refresh_from_db()
    return row


@pytest.fixture
def committed_store(transactional_db):
    """Alice's store, committed (for tests whose threads or connections must see it), and
    dropped afterwards with its ledger rows."""
    from payments.platform.models import FeeLedgerEntry
    from tenants.models import Store
    from tenants.services import store_create
    from tests.conftest import make_seller
    from tests.live import unique

    owner = make_seller(f"{unique('alice')}@example.com")
    store = store_create(owner=owner, name="Alice's Guides", subdomain=unique("alice"))
    yield store
    FeeLedgerEntry.objects.filter(store_id=store.pk).delete()
    Store.objects.get(pk=store.pk).delete(force_drop=True)
