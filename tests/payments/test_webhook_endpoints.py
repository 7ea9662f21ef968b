"""Two webhook endpoints at Stripe, each with its own signing secret."""

from __future__ import annotations

import re
from pathlib import Path

from payments.platform.models import StripeEvent
from tests.conftest import main_client
from tests.payments.conftest import post_event, sign

CONNECT = "whsec_connect_endpoint"
ACCOUNT = "whsec_account_endpoint"


def _event(event_id: str, **extra) -> dict:
    return {
        "id": event_id,
        "object": "event",
        "type": "application_fee.created",
        "livemode": False,
        "data": {"object": {"id": "fee_1"}},
        **extra,
    }


def _post(path: str, event: dict, secret: str):
    import json

    body = json.dumps(event).encode()
    return main_client().post(
        path,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body, secret=secret),
    )


def test_each_endpoint_verifies_with_its_own_secret(db, settings):
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = CONNECT
    settings.STRIPE_ACCOUNT_WEBHOOK_SECRET = ACCOUNT
    settings.STRIPE_WEBHOOK_SECRET = "whsec_old_name"

    assert _post("/stripe/webhook/", _event("evt_c1", account="acct_1"), CONNECT).status_code == 200
    assert _post("/stripe/webhook/account/", _event("evt_a1"), ACCOUNT).status_code == 200
    # Crossed secrets are forgeries for that endpoint; the old name no longer wins.
    assert _post("/stripe/webhook/", _event("evt_c2"), ACCOUNT).status_code == 400
    assert _post("/stripe/webhook/account/", _event("evt_a2"), CONNECT).status_code == 400
    assert _post("/stripe/webhook/", _event("evt_c3"), "whsec_old_name").status_code == 400
    assert set(StripeEvent.objects.values_list("event_id", flat=True)) == {"evt_c1", "evt_a1"}


def test_the_old_setting_still_verifies_the_connect_endpoint(db, settings):
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = ""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_old_name"
    assert post_event(main_client(), _event("evt_old"), secret="whsec_old_name").status_code == 200


def test_an_unconfigured_account_endpoint_accepts_nothing(db, settings):
    settings.STRIPE_ACCOUNT_WEBHOOK_SECRET = ""
    assert _post("/stripe/webhook/account/", _event("evt_x"), "").status_code == 400
    assert not StripeEvent.objects.exists()


def test_the_deploy_guide_lists_every_event_the_connect_endpoint_handles():
    from payments.webhooks import HANDLERS

    guide = (Path(__file__).resolve().parents[2] / "deploy" / "README.md").read_text()
    section = guide.split("### The two webhook endpoints", 1)[1]
    listed = set(re.findall(r"enabled_events\[\]=([a-z_.]+)", section))
    assert listed == set(HANDLERS), (sorted(set(HANDLERS) - listed), sorted(listed - set(HANDLERS)))
    for event_type in HANDLERS:
        assert f"`{event_type}`" in section
    assert "STRIPE_CONNECT_WEBHOOK_SECRET" in section and "STRIPE_ACCOUNT_WEBHOOK_SECRET" in section
