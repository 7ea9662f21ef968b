"""Log lines operators can search: one per event, with the request id, the store's schema and,
for Stripe work, the event id; never a buyer's email, a download token or a secret.

- `log_bind(event_id=...)` puts ids in the context of the current request or task (one line
  at the call site); the request middleware and the Celery hooks clear it afterwards.
- `ContextFilter` copies them (and the connection's schema) onto every record.
- `PlainFormatter` (development) and `JsonFormatter` (production, python-json-logger) both
  pass their output through `scrub()`, so whatever a message or a traceback carries,
  the line written is clean.

No Django import at module level: gunicorn's master loads this before Django is set up.
"""

from __future__ import annotations

import logging
import os
import re
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

_request_id: ContextVar[str] = ContextVar("request_id", default="")
_event_id: ContextVar[str] = ContextVar("event_id", default="")

# An id from the caller (nginx's $request_id, a load balancer's) is kept only when it is
# plainly an id: a short run of safe characters cannot forge a log line or a header.
_WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,63}$")


def request_id_from(incoming: str | None) -> str:
    """The caller's X-Request-ID if well-formed, else a new one."""
    if incoming and _WELL_FORMED_ID.match(incoming):
        return incoming
    return os.urandom(16).hex()  # 128 random bits, as uuid4 has, at a fifth of its cost


def log_bind(*, request_id: str | None = None, event_id: str | None = None) -> None:
    """Attach ids to every log line (and Sentry event) of the current request or task."""
    if request_id is not None:
        _request_id.set(request_id)
    if event_id is not None:
        _event_id.set(str(event_id)[:100])


def log_context_clear() -> None:
    _request_id.set("")
    _event_id.set("")


def current_request_id() -> str:
    return _request_id.get()


def current_event_id() -> str:
    return _event_id.get()


def current_schema() -> str:
    """The schema the current thread's connection is on ('' before Django is ready)."""
    try:
        from django.db import connection

        return getattr(connection, "schema_name", "") or ""
    except Exception:  # logging must never fail because the database layer is not ready
        return ""


# --- Scrubbing -----------------------------------------------------------------------------

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})+")
# Download and library links carry their secret in the path.
_PATH_TOKEN = re.compile(r"(/(?:d|library)/)(?!\[token\])[A-Za-z0-9_\-=%.]{8,}")
# Secrets passed in query strings (the sign-in hand-off's token, magic links, …).
_QUERY_SECRET = re.compile(
    r"([?&;](?:token|key|code|sig|signature|secret|password|sessionid|csrfmiddlewaretoken)=)[^&\s\"'<>]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"((?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=\-]+", re.IGNORECASE)
_STRIPE_SECRET = re.compile(r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]{6,}|\bwhsec_[A-Za-z0-9_]{6,}")
_SESSION_COOKIE = re.compile(r"((?:sessionid|csrftoken)=)[A-Za-z0-9:_\-.]+", re.IGNORECASE)
# Card numbers: 13 to 19 digits, maybe grouped by spaces or dashes, that pass Luhn.
_CARD = re.compile(r"(?<![\w.])\d(?:[ -]?\d){12,18}(?![\w.])")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return "[card]" if _luhn_ok(digits) else match.group(0)


def scrub(text: str) -> str:
    """Text with emails, tokens, secrets and card numbers replaced by placeholders."""
    if not text:
        return text
    if "@" in text:
        text = _EMAIL.sub("[email]", text)
    if "/d/" in text or "/library/" in text:
        text = _PATH_TOKEN.sub(r"\1[token]", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(r"\1[redacted]", text)
        text = _SESSION_COOKIE.sub(r"\1[redacted]", text)
    text = _BEARER.sub(r"\1[redacted]", text)
    if "_" in text:
        text = _STRIPE_SECRET.sub("[secret]", text)
    return _CARD.sub(_card, text)


def scrub_data(value: Any, depth: int = 0) -> Any:
    """`scrub()` applied to every string in nested dicts and lists."""
    if isinstance(value, str):
        return scrub(value)
    if depth > 12:
        return value
    if isinstance(value, dict):
        return {k: scrub_data(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_data(v, depth + 1) for v in value]
    return value


# --- Filters and formatters ----------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Adds request_id, schema and event_id to every record that reaches the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        record.event_id = _event_id.get()
        record.schema = current_schema()
        return True


class ScrubFilter(logging.Filter):
    """Rewrites a record's message scrubbed, for loggers whose formatter is not ours
    (gunicorn's access log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = scrub(record.getMessage())
        record.msg, record.args = message, ()
        return True


class PlainFormatter(logging.Formatter):
    """Development: one readable line, ids at the end, scrubbed."""

    def __init__(self, fmt: str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            fmt
            or "%(asctime)s %(levelname)s %(name)s %(message)s "
            "[request_id=%(request_id)s schema=%(schema)s event_id=%(event_id)s]",
            *args,
            **kwargs,
        )

    def format(self, record: logging.LogRecord) -> str:
        for name in ("request_id", "schema", "event_id"):
            if not hasattr(record, name):
                setattr(record, name, "")
        return scrub(super().format(record))


class JsonFormatter(_JsonFormatter):
    """Production: one JSON object per line, every string scrubbed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "fmt", ["asctime", "levelname", "name", "message", "request_id", "schema", "event_id"]
        )
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level"})
        # Django's request logger attaches the HttpRequest and the server's socket; their
        # repr adds nothing the message and the request id do not already say.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request", "server_time"])
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # Objects would be serialised with str() after this point, unscrubbed: stringify first.
        plain = (str, int, float, bool, type(None), dict, list, tuple)
        return scrub_data({k: v if isinstance(v, plain) else str(v) for k, v in log_data.items()})


def logging_config(*, json: bool, level: str) -> dict[str, Any]:
    """The LOGGING dict for settings: one console handler, our filter and formatter."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "config.logs.ContextFilter"}},
        "formatters": {
            "plain": {"()": "config.logs.PlainFormatter"},
            "json": {"()": "config.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json else "plain",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }
