"""A sale through the Stripe stand-in, as tests/payments/test_checkout.py makes one, for the
tests of what operators see (metrics, logs, errors)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import main_client, store_client
from tests.factories import product_with_file
from tests.payments.conftest import (  # noqa: F401  (fixtures)
    _standin_server,
    connect_store,
    post_event,
    standin,
)

BUYER = "bob.buyer@example.com"
METRICS_TOKEN = "metrics-test-token-0123456789"


@dataclass
class Sale:
    session_id: str
    download_path: str
    token: str
    account: str


def sell(store, helper, capture, *, email: str = BUYER) -> Sale:
    """Buy, pay at the stand-in, land on the thank-you page, receive every webhook, download."""
    from django.db import connection

    connection.set_schema_to_public()  # a previous request may have left a store's schema
    connect_store(store, helper)
    product = product_with_file(store, price=1999)
    response = store_client(store).post(f"/buy/{product.slug}/", {"attempt": "a" * 32})
    assert response.status_code == 302
    session_id = re.search(r"/hosted/checkout/(cs_[A-Za-z0-9_]+)", response["Location"]).group(1)
    helper.call("POST", f"/sessions/{session_id}/pay", {"email": email})
    with capture(execute=True):
        thanks = store_client(store).get(f"/thanks/?session_id={session_id}")
    assert thanks.status_code == 200
    path = re.search(rb'href="http://[^"/]+(/d/([^"/]+)/)"', thanks.content)
    account = store.stripe_account.stripe_account_id
    client = main_client()
    for event in helper.events(account=account):
        with capture(execute=True):
            assert post_event(client, helper.event_payload(event)).status_code == 200
    download = store_client(store).get(path.group(1).decode())
    assert download.status_code == 200
    b"".join(download.streaming_content)
    return Sale(session_id, path.group(1).decode(), path.group(2).decode(), account)


def fail_an_event(account: str, capture) -> dict:
    """A genuine, signed event for a known account whose handler raises (no data.object)."""
    event = {
        "id": f"evt_fail_{time.time_ns()}",
        "object": "event",
        "type": "charge.refunded",
        "account": account,
        "created": int(time.time()),
        "livemode": False,
        "data": {},
    }
    with capture(execute=True):
        assert post_event(main_client(), event).status_code == 200
    return event


def scrape(settings, **headers: str) -> str:
    settings.METRICS_TOKEN = METRICS_TOKEN
    response = main_client().get(
        "/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}", **headers
    )
    assert response.status_code == 200, response.content[:200]
    return response.content.decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} from the Prometheus text format."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(parsed: dict, name: str, **labels: str) -> float:
    return parsed.get((name, tuple(sorted(labels.items()))), 0.0)
