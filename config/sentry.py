"""Error reporting to Sentry (sentry-sdk, Django and Celery integrations), on when SENTRY_DSN is.

What leaves the machine is scrubbed twice in `before_send`: by key (cookies, authorization,
tokens, sessions, emails…, at any depth), then `config.logs.scrub` over every string
(emails, download and library tokens, secrets, card numbers). Frame locals, cookies,
bodies and query strings are not collected at all (`data_collection`): that is where a
buyer's email or a raw token would sit. Each event is tagged with the store's schema, the
request id and, for Stripe work, the event id, so it can be matched with the log lines.
"""

from __future__ import annotations

from typing import Any

from config.logs import current_event_id, current_request_id, current_schema, scrub_data

# Values under keys containing any of these are replaced, at any depth (sentry-sdk's own
# denylist, which `data_collection` turns off, plus ours).
DENYLIST = [
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
    "auth",
    "credentials",
    "private_key",
    "privatekey",
    "token",
    "session",
    "csrf",
    "cookie",
    "x_forwarded_for",
    "x_real_ip",
    "remote_addr",
    "ip_address",
    "email",
    "buyer_email",
    "customer_email",
    "receipt_email",
    "stripe_signature",
    "http_stripe_signature",
    "card",
    "card_number",
    "number",
    "cvc",
    "cvv",
    "exp_month",
    "exp_year",
    "iban",
    "grant_token",
    "download_token",
    "library_token",
    "handoff_token",
    "token_hash",
    "salt",
]
_DENY = tuple(DENYLIST)
FILTERED = "[Filtered]"


def redact_keys(value: Any, depth: int = 0) -> Any:
    if depth > 20:
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = str(key).lower().replace("-", "_")
            if isinstance(item, str | int | float) and any(term in name for term in _DENY):
                out[key] = FILTERED
            else:
                out[key] = redact_keys(item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        # Headers arrive as [name, value] pairs in some integrations.
        if len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], str):
            name = value[0].lower().replace("-", "_")
            if any(term in name for term in _DENY):
                return [value[0], FILTERED]
        return [redact_keys(item, depth + 1) for item in value]
    return value


def before_send(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    tags = event.setdefault("tags", {})
    if isinstance(tags, dict):
        for name, value in (
            ("schema", current_schema()),
            ("request_id", current_request_id()),
            ("stripe_event_id", current_event_id()),
        ):
            if value:
                tags.setdefault(name, value)
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        request.pop("data", None)  # form posts: emails, passwords
        headers = request.get("headers")
        if isinstance(headers, dict):
            for name in list(headers):
                if name.lower() in ("cookie", "authorization", "stripe-signature", "x-csrftoken"):
                    headers.pop(name)
    event.pop("user", None)
    return scrub_data(redact_keys(event))


def before_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    return scrub_data(redact_keys(crumb))


def sentry_init(
    *, dsn: str, environment: str = "", release: str = "", traces_sample_rate: float = 0.0
) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        # Nothing about the user, no cookies, bodies, query strings, SQL parameters or frame
        # locals; headers only past the denylist (and before_send drops the sensitive ones).
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "denylist"}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "stack_frame_variables": False,
        },
        max_request_body_size="never",
        before_send=before_send,
        before_send_transaction=before_send,
        before_breadcrumb=before_breadcrumb,
        traces_sample_rate=traces_sample_rate or None,
    )
