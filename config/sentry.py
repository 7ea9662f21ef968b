"""Error reporting to Sentry (sentry-sdk, Django and Celery integrations), on when SENTRY_DSN is.

What leaves the machine is scrubbed twice: sentry-sdk's own EventScrubber by key (cookies,
authorization, tokens, sessions…, recursively, with our keys added), then `before_send`
runs `config.logs.scrub` over every string (emails, download and library tokens, secrets,
card numbers). Local variables are not sent at all: a frame's locals are where a buyer's
email or a raw token would sit. Each event is tagged with the store's schema, the request
id and, for Stripe work, the event id, so it can be matched with the log lines.
"""

from __future__ import annotations

from typing import Any

from config.logs import current_event_id, current_request_id, current_schema, scrub_data

DENYLIST_EXTRA = [
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
    return scrub_data(event)


def before_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    return scrub_data(crumb)


def sentry_init(
    *, dsn: str, environment: str = "", release: str = "", traces_sample_rate: float = 0.0
) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        event_scrubber=EventScrubber(denylist=DEFAULT_DENYLIST + DENYLIST_EXTRA, recursive=True),
        before_send=before_send,
        before_send_transaction=before_send,
        before_breadcrumb=before_breadcrumb,
        traces_sample_rate=traces_sample_rate or None,
    )
