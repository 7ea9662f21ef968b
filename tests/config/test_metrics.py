"""/metrics: what a sale and a failed event leave behind, who may read it, and that no
label ever names a store. Counters are process-wide, so tests compare before and after."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from payments.platform.models import StripeEvent
from tests.config.conftest import (
    METRICS_TOKEN,
    fail_an_event,
    samples,
    scrape,
    sell,
    value,
)
from tests.conftest import main_client, store_client

ROOT = Path(__file__).resolve().parents[2]
P = "product_purchase_"


def test_a_sale_and_a_failed_event_show_in_the_metrics(
    alice_store, standin, settings, django_capture_on_commit_callbacks
):
    before = samples(scrape(settings))
    sale = sell(alice_store, standin, django_capture_on_commit_callbacks)
    failed = fail_an_event(sale.account, django_capture_on_commit_callbacks)
    assert StripeEvent.objects.get(event_id=failed["id"]).status == "failed"
    after = samples(scrape(settings))

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # One purchase made (the thank-you page), found again by checkout.session.completed.
    assert delta(f"{P}purchases_total", outcome="created") == 1
    assert delta(f"{P}purchases_total", outcome="existing") >= 1
    assert delta(f"{P}downloads_total", outcome="ok") == 1
    received = delta(f"{P}webhook_events_received_total", outcome="recorded")
    done = delta(
        f"{P}webhook_events_processed_total", type="checkout.session.completed", result="done"
    )
    assert received >= 2 and done == 1
    assert delta(f"{P}webhook_events_processed_total", type="charge.refunded", result="failed") == 1
    # Lag observed for every event processed (not the failed one), bucketed.
    lag_count = delta(f"{P}webhook_event_lag_seconds_count")
    processed_ok = sum(
        v - before.get(k, 0.0)
        for k, v in after.items()
        if k[0] == f"{P}webhook_events_processed_total" and dict(k[1])["result"] != "failed"
    )
    assert lag_count == processed_ok >= 1
    assert delta(f"{P}webhook_event_lag_seconds_bucket", le="+Inf") == lag_count
    # Requests by URL name and status, with their latency.
    assert (
        delta(f"{P}http_requests_total", view="payments:download", method="GET", status="200") == 1
    )
    assert (
        delta(f"{P}http_requests_total", view="payments:checkout", method="POST", status="302") == 1
    )
    assert delta(f"{P}http_request_duration_seconds_count", view="payments:thanks") == 1
    assert delta(f"{P}http_requests_total", view="stripe_webhook", method="POST", status="200") >= 3
    # State read when scraped: the failed event waits, and is retried with backoff.
    assert value(after, f"{P}webhook_events_unprocessed", status="failed") == 1
    assert value(after, f"{P}webhook_events_unprocessed", status="retrying") == 1
    assert value(after, f"{P}webhook_oldest_unprocessed_age_seconds") >= 0
    assert value(after, f"{P}stores", status="active") == 1


def test_no_label_names_a_store_a_path_or_a_buyer(
    alice_store, mallory_store, standin, settings, django_capture_on_commit_callbacks
):
    sale = sell(alice_store, standin, django_capture_on_commit_callbacks)
    sell(mallory_store, standin, django_capture_on_commit_callbacks, email="eve@example.com")
    store_client(alice_store).get("/d/not-a-real-token-at-all-0123456789/")
    store_client(alice_store).get("/no/such/page/")
    text = scrape(settings)
    for family_text in re.findall(r"\{([^}]*)\}", text):
        for forbidden in ("alice", "mallory", "@", "/d/", "/no/such", sale.token, "acct_", "cs_"):
            assert forbidden not in family_text, (forbidden, family_text)
    # Every label value comes from a bounded set the code chose.
    for (name, labels), _ in samples(text).items():
        if not name.startswith(P):
            continue  # prometheus_client's own process and GC figures
        for key, _val in labels:
            assert key in {"view", "method", "status", "outcome", "type", "result", "task",
                           "state", "queue", "le"}, (name, key)  # fmt: skip


def test_metrics_need_a_token_or_an_allowed_network(db, settings):
    settings.METRICS_TOKEN = METRICS_TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    client = main_client()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {METRICS_TOKEN}").status_code == 403
    ok = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert ok.status_code == 200 and ok["Content-Type"].startswith("text/plain")
    assert f"{P}http_requests_total" in ok.content.decode()

    import ipaddress

    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    # Through a proxy every visitor has the proxy's address: the network never counts then.
    forwarded = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert forwarded.status_code == 403
    assert client.post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 405

    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_metrics_are_on_the_main_domain_only(alice_store, settings):
    settings.METRICS_TOKEN = METRICS_TOKEN
    response = store_client(alice_store).get(
        "/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}"
    )
    assert response.status_code in (301, 404)
    assert f"{P}http_requests_total".encode() not in response.content
    # An internal scrape name is accepted only when listed (compose: METRICS_HOSTS=django).
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "django"]
    from django.test import Client

    internal = Client(HTTP_HOST="django:8000")
    assert internal.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").status_code == 404
    settings.METRICS_HOSTS = ["django"]
    assert internal.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").status_code == 200


def test_every_response_carries_a_request_id(alice_store):
    first = main_client().get("/healthz")
    second = store_client(alice_store).get("/")
    missing = store_client(alice_store).get("/no/such/page/")
    ids = {r["X-Request-ID"] for r in (first, second, missing)}
    assert len(ids) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    kept = main_client().get("/healthz", HTTP_X_REQUEST_ID="edge-1234abcd.5678")
    assert kept["X-Request-ID"] == "edge-1234abcd.5678"
    for bad in ("short", "has space in it 123", "x" * 200, "evil\r\nSet-Cookie: a=b", "../../etc"):
        replaced = main_client().get("/healthz", HTTP_X_REQUEST_ID=bad)
        assert replaced["X-Request-ID"] != bad
        assert re.fullmatch(r"[0-9a-f]{32}", replaced["X-Request-ID"])


def test_the_alert_rules_use_metrics_the_app_exposes(
    alice_store, standin, settings, django_capture_on_commit_callbacks
):
    """promtool checks the syntax (tests/deploy); this checks the names: a renamed metric
    would leave an alert that never fires."""
    sale = sell(alice_store, standin, django_capture_on_commit_callbacks)
    fail_an_event(sale.account, django_capture_on_commit_callbacks)
    from config.metrics import reconciliation_recorded

    reconciliation_recorded(stores=1)
    settings.CELERY_BROKER_URL = settings.REDIS_URL or settings.CELERY_BROKER_URL
    exposed = {family.name for family in _families(scrape(settings))}
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            used |= set(re.findall(rf"\b{P}[a-z_]+", rule["expr"]))
    assert used, "no product_purchase_* metric in the alert rules"
    for name in used:
        family = re.sub(r"_(bucket|sum|count|total)$", "", name)
        assert family in exposed, f"{name} is in alerts.yml but not in /metrics"


def _families(text: str):
    from prometheus_client.parser import text_string_to_metric_families

    return list(text_string_to_metric_families(text))


def test_webhook_deliveries_are_counted_by_outcome(db, settings):
    from tests.payments.conftest import post_event

    settings.STRIPE_WEBHOOK_SECRET = "whsec_tests_secret"
    before = samples(scrape(settings))
    client = main_client()
    event = {"id": "evt_count_1", "type": "account.updated", "created": 1, "data": {"object": {}}}
    assert post_event(client, event, secret="whsec_wrong").status_code == 400
    assert post_event(client, event).status_code == 200
    assert post_event(client, event).status_code == 200
    after = samples(scrape(settings))
    name = f"{P}webhook_events_received_total"
    for outcome, count in (("bad_signature", 1), ("recorded", 1), ("duplicate", 1)):
        assert value(after, name, outcome=outcome) - value(before, name, outcome=outcome) == count
