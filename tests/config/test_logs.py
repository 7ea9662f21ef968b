"""Log lines: one JSON object each in production, with the request id, the store's schema and
the Stripe event id; never the buyer's email or a download or library token."""

from __future__ import annotations

import io
import json
import logging
import re
from contextlib import contextmanager

import pytest
from django.core import mail

from config.logs import JsonFormatter, PlainFormatter, logging_config, scrub
from tests.config.conftest import BUYER, fail_an_event, sell
from tests.conftest import store_client


@contextmanager
def captured_log_lines(formatter: logging.Formatter):
    """The project's own console handler (settings.LOGGING), writing to a buffer."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    old_stream, old_formatter = handler.stream, handler.formatter
    handler.setStream(buffer)
    handler.setFormatter(formatter)
    try:
        yield buffer
    finally:
        handler.setStream(old_stream)
        handler.setFormatter(old_formatter)


def test_a_sale_logs_no_email_and_no_token(
    alice_store, standin, django_capture_on_commit_callbacks
):
    with captured_log_lines(JsonFormatter()) as out:
        sale = sell(alice_store, standin, django_capture_on_commit_callbacks)
        # The ways a token or an address reaches a log line: a refused download (Django's
        # request logger names the path), a magic link asked for and opened late, a failed
        # Stripe event logged with its traceback.
        store_client(alice_store).get(f"/d/{sale.token}x/")
        store_client(alice_store).post("/library/", {"email": BUYER})
        library_token = re.search(r"/library/([A-Za-z0-9_-]{20,})/", mail.outbox[-1].body).group(1)
        store_client(alice_store).get(f"/library/{library_token}x/")
        failed = fail_an_event(sale.account, django_capture_on_commit_callbacks)
        logging.getLogger("payments").warning(
            "Receipt for %s: http://alice.localhost/d/%s/", BUYER, sale.token
        )
    text = out.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert len(lines) >= 5
    for secret in (BUYER, sale.token, library_token, "bob.buyer"):
        assert secret not in text, f"{secret!r} reached the logs"
    assert "[email]" in text and "/d/[token]/" in text and "/library/[token]/" in text
    for line in lines:
        assert {"time", "level", "name", "message", "request_id", "schema", "event_id"} <= set(line)
    refused = next(line for line in lines if line["message"].startswith("Not Found: /d/"))
    assert refused["schema"] == alice_store.schema_name
    assert len(refused["request_id"]) == 32
    failure = next(line for line in lines if "failed" in line["message"] and line["event_id"])
    assert failure["event_id"] == failed["id"]
    assert "KeyError" in failure["exc_info"]


def test_the_request_id_in_the_log_is_the_one_in_the_header(alice_store):
    with captured_log_lines(JsonFormatter()) as out:
        response = store_client(alice_store).get(
            "/no/such/page/", HTTP_X_REQUEST_ID="lb-req-000123"
        )
    line = json.loads(out.getvalue().splitlines()[-1])
    assert response["X-Request-ID"] == "lb-req-000123" == line["request_id"]


def test_development_logs_are_plain_lines_with_the_ids():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "card %s for %s", None, None)
    record.args = ("4242 4242 4242 4242", "carol@example.org")
    line = PlainFormatter().format(record)
    assert "WARNING x card [card] for [email]" in line and "request_id=" in line
    assert logging_config(json=False, level="INFO")["handlers"]["console"]["formatter"] == "plain"
    assert logging_config(json=True, level="INFO")["handlers"]["console"]["formatter"] == "json"


def test_production_logs_json_by_default(monkeypatch):
    import importlib

    import config.settings as settings_module

    monkeypatch.setenv("DJANGO_DEBUG", "False")
    monkeypatch.setenv("DJANGO_TESTING", "1")
    monkeypatch.delenv("DJANGO_LOG_FORMAT", raising=False)
    try:
        importlib.reload(settings_module)
        assert settings_module.LOG_FORMAT == "json"
        assert settings_module.LOGGING["handlers"]["console"]["formatter"] == "json"
        assert (
            settings_module.MIDDLEWARE[0] == "config.observability.RequestObservabilityMiddleware"
        )
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("to bob@example.com", "to [email]"),
        ("GET /d/AbC_-0123456789abcdefXYZ/ 404", "GET /d/[token]/ 404"),
        ("http://s.localhost/library/tok3nTOK3Ntok3n/", "http://s.localhost/library/[token]/"),
        (
            "/auth/handoff/?token=eyJ1IjoxfQ:1a:sig&next=/x",
            "/auth/handoff/?token=[redacted]&next=/x",
        ),
        (
            "Cookie: sessionid=abc123def; csrftoken=zz",
            "Cookie: sessionid=[redacted]; csrftoken=[redacted]",
        ),
        ("Authorization: Bearer s3cr3t.t0ken", "Authorization: Bearer [redacted]"),
        ("key sk_live_51Habcdefgh and whsec_abcdefgh", "key [secret] and [secret]"),
        ("card 4000-0000-0000-0002 ok", "card [card] ok"),
        ("order 1234567890123 at 1733011200", "order 1234567890123 at 1733011200"),  # not Luhn
        ("GET /dashboard/products/ 200", "GET /dashboard/products/ 200"),
    ],
)
def test_scrub_replaces_secrets_and_keeps_the_rest(raw, clean):
    assert scrub(raw) == clean
