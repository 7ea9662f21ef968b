"""Errors reach Sentry (a real local ingest over HTTP) tagged with the store's schema and the
request id, and scrubbed: no buyer email, download token, session id or card number."""

from __future__ import annotations

import json

import pytest
import sentry_sdk
from django.test import Client

from config.sentry import sentry_init
from tests.config.sentry_ingest import SentryIngest
from tests.config.urls_boom import BUYER, CARD

TOKEN = "Zq9_downloadTokenSecret_0123456789abcdefXYZ"
SESSION = "sessionSecret0123456789abcdefgh"


@pytest.fixture
def sentry():
    with SentryIngest() as ingest:
        sentry_init(dsn=ingest.dsn, environment="test")
        try:
            yield ingest
        finally:
            sentry_sdk.flush(timeout=5)
            sentry_sdk.init(dsn=None)  # off again for the rest of the suite


def test_an_error_in_a_store_reaches_sentry_tagged_and_scrubbed(alice_store, settings, sentry):
    settings.ROOT_URLCONF = "tests.config.urls_boom"
    client = Client(HTTP_HOST=alice_store.host, raise_request_exception=False)
    client.cookies["sessionid"] = SESSION
    response = client.get(
        f"/d/{TOKEN}/boom/?token={TOKEN}&email={BUYER}",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
        HTTP_USER_AGENT="pytest",
    )
    assert response.status_code == 500
    sentry_sdk.flush(timeout=5)
    [event] = sentry.wait_for_events(1)
    assert event["tags"]["schema"] == alice_store.schema_name
    assert event["tags"]["request_id"] == response["X-Request-ID"]
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert "/d/[token]/" in event["exception"]["values"][-1]["value"]
    raw = sentry.raw().decode()
    for secret in (BUYER, "carol.buyer", TOKEN, SESSION, CARD, CARD.replace(" ", "")):
        assert secret not in raw, f"{secret!r} reached Sentry"
    # The breadcrumb from the log line arrived, scrubbed too.
    crumbs = json.dumps(event.get("breadcrumbs", {}))
    assert "Preparing the download for [email]" in crumbs


def _client_active_in_a_new_process(**env: str) -> str:
    import subprocess
    import sys

    from tests.live import ROOT, process_env

    code = "import django; django.setup(); import sentry_sdk; c = sentry_sdk.get_client(); print(c.is_active(), bool(c.dsn))"
    environment = process_env(**env)
    if "SENTRY_DSN" not in env:
        environment.pop("SENTRY_DSN", None)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def test_sentry_is_on_with_a_dsn_and_off_without(sentry):
    assert _client_active_in_a_new_process() == "False False"
    assert _client_active_in_a_new_process(SENTRY_DSN=sentry.dsn) == "True True"
