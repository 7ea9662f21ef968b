"""The Stripe stand-in, driven by the real `stripe` library over real HTTP.

No Django here (run with `make test ARGS=tests/stripe_standin`). A tiny local HTTP
receiver plays the app's webhook endpoint and checks signatures with
`stripe.Webhook.construct_event`, exactly as the app does.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe

from devtools.stripe_standin import StandinServer, serve_in_thread

SECRET = "whsec_test_secret"
ROOT = Path(__file__).resolve().parents[2]


# --- helpers ----------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxies (the environment may set one) and no redirect following: tests look at 302s.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, *, form: dict[str, str] | None = None, data: Any = None) -> Reply:
    body, headers = None, {}
    if form is not None:
        body = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with _opener.open(request, timeout=10) as response:
            return Reply(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read().decode())


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@dataclass
class Receiver:
    """The app's webhook endpoint, played by a tiny server that verifies signatures."""

    url: str = ""
    events: list[stripe.Event] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def types(self) -> list[str]:
        with self.lock:
            return [e.type for e in self.events]

    def of_type(self, kind: str) -> list[stripe.Event]:
        with self.lock:
            return [e for e in self.events if e.type == kind]


def serve_receiver(state: Receiver, port: int = 0) -> ThreadingHTTPServer:
    """Start the receiver on `port` (0: any free one) and set `state.url`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                failing = state.fail_next > 0
                if failing:
                    state.fail_next -= 1
            if not failing:
                # Raises on a bad signature, which the stand-in records as a failed attempt.
                event = stripe.Webhook.construct_event(
                    body, self.headers["Stripe-Signature"], SECRET
                )
                with state.lock:
                    state.events.append(event)
                    state.hosts.append(self.headers["Host"])
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/stripe/webhook/"
    return server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = serve_receiver(state)
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class Standin:
    server: StandinServer
    base: str

    def client(self, **kwargs: Any) -> stripe.StripeClient:
        return stripe.StripeClient(
            "sk_test_standin",
            base_addresses={"api": self.base, "connect": self.base, "files": self.base},
            max_network_retries=0,
            **kwargs,
        )

    def control(self, method: str, path: str, data: Any = None) -> Reply:
        return http(method, f"{self.base}/_standin{path}", data=data)

    def requests(self, path_prefix: str = "/v1") -> list[dict[str, Any]]:
        return self.control("GET", f"/requests?path_prefix={path_prefix}").json()["data"]


@pytest.fixture
def standin(receiver: Receiver) -> Iterator[Standin]:
    server, base = serve_in_thread("127.0.0.1", 0, webhook_url=receiver.url, webhook_secret=SECRET)
    stand = Standin(server, base)
    stand.control("POST", "/config", {"retry_delays": [0.05, 0.05, 0.05]})
    yield stand
    server.shutdown()


@pytest.fixture
def client(standin: Standin) -> stripe.StripeClient:
    return standin.client()


def new_account(client: stripe.StripeClient, store: str = "alice") -> Any:
    return client.v1.accounts.create(
        params={"type": "standard", "email": f"{store}@example.com", "metadata": {"store": store}},
        options={"idempotency_key": f"acct-{store}-{time.monotonic_ns()}"},
    )


def ready_account(client: stripe.StripeClient, standin: Standin, store: str = "alice") -> str:
    account = new_account(client, store)
    assert standin.control("POST", f"/accounts/{account.id}/complete").status == 200
    return account.id


def session_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 1500,
                    "product_data": {"name": "Field Guide PDF", "description": "120 pages"},
                },
            }
        ],
        "payment_intent_data": {"application_fee_amount": 105, "metadata": {"order": "o-1"}},
        "metadata": {"order": "o-1", "store": "alice"},
        "success_url": "http://alice.localhost:8000/thanks/?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://alice.localhost:8000/products/guide/",
        "customer_email": "buyer@example.com",
        "client_reference_id": "o-1",
    }
    params.update(overrides)
    return params


def new_session(
    client: stripe.StripeClient, account_id: str, key: str | None = None, **overrides: Any
) -> Any:
    return client.v1.checkout.sessions.create(
        params=session_params(**overrides),
        options={
            "stripe_account": account_id,
            "idempotency_key": key or f"cs-{time.monotonic_ns()}",
        },
    )


def pay(standin: Standin, session_id: str, card: str = "4242424242424242") -> Reply:
    return standin.control(
        "POST", f"/sessions/{session_id}/pay", {"email": "buyer@example.com", "card": card}
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- accounts and onboarding ------------------------------------------------------------


def test_it_creates_and_retrieves_an_account_that_still_has_requirements_due(
    client: stripe.StripeClient,
) -> None:
    account = new_account(client)

    assert account.id.startswith("acct_")
    assert account.object == "account"
    assert account.metadata["store"] == "alice"
    assert not account.charges_enabled and not account.payouts_enabled
    assert not account.details_submitted
    assert account.requirements.currently_due
    assert account.requirements.disabled_reason == "requirements.past_due"
    fetched = client.v1.accounts.retrieve(account.id)
    assert fetched.id == account.id and fetched.email == "alice@example.com"


def test_it_refuses_requests_without_a_secret_key(standin: Standin) -> None:
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient(
            "pk_test_nope", base_addresses={"api": standin.base}, max_network_retries=0
        ).v1.accounts.retrieve("acct_x")
    reply = http("GET", f"{standin.base}/v1/accounts/acct_x")
    assert reply.status == 401
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert reply.headers["Request-Id"].startswith("req_")


def test_an_account_link_works_once_and_then_sends_people_to_the_refresh_url(
    client: stripe.StripeClient,
) -> None:
    account = new_account(client)
    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "return_url": "http://platform.localhost:8000/onboarding/return/",
            "refresh_url": "http://platform.localhost:8000/onboarding/refresh/",
        }
    )
    assert link.object == "account_link"
    assert link.expires_at == link.created + 300

    first = http("GET", link.url)
    assert first.status == 200
    assert "Stripe test onboarding (local stand-in)" in first.body
    assert "Complete onboarding" in first.body
    assert "Submit with requirements still due" in first.body

    second = http("GET", link.url)
    assert second.status == 302
    assert second.headers["Location"] == "http://platform.localhost:8000/onboarding/refresh/"


def test_an_expired_account_link_sends_people_to_the_refresh_url(
    client: stripe.StripeClient, standin: Standin
) -> None:
    account = new_account(client)
    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "return_url": "http://p.localhost/return/",
            "refresh_url": "http://p.localhost/refresh/",
        }
    )
    token = link.url.rsplit("/", 1)[1]
    with standin.server.app.store.lock:  # five minutes pass
        standin.server.app.store.get("account_links", token)["expires_at"] = int(time.time()) - 1

    reply = http("GET", link.url)

    assert reply.status == 302
    assert reply.headers["Location"] == "http://p.localhost/refresh/"


def _onboard(client: stripe.StripeClient, action: str) -> tuple[Any, Reply]:
    account = new_account(client)
    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "return_url": "http://p.localhost/return/",
            "refresh_url": "http://p.localhost/refresh/",
        }
    )
    assert http("GET", link.url).status == 200
    return account, http("POST", link.url, form={"action": action})


def test_completing_onboarding_enables_charges_and_tells_the_platform(
    client: stripe.StripeClient, receiver: Receiver
) -> None:
    account, reply = _onboard(client, "complete")

    assert reply.status == 302
    assert reply.headers["Location"] == "http://p.localhost/return/"
    fetched = client.v1.accounts.retrieve(account.id)
    assert fetched.charges_enabled and fetched.payouts_enabled and fetched.details_submitted
    assert fetched.requirements.currently_due == []
    event = wait_for(lambda: receiver.of_type("account.updated"))[0]
    assert event.account == account.id
    assert event.data.object.charges_enabled is True
    assert event.data.previous_attributes["charges_enabled"] is False


def test_submitting_with_requirements_due_leaves_charges_disabled(
    client: stripe.StripeClient, receiver: Receiver
) -> None:
    account, reply = _onboard(client, "requirements_due")

    assert reply.status == 302
    fetched = client.v1.accounts.retrieve(account.id)
    assert fetched.details_submitted is True
    assert fetched.charges_enabled is False
    assert fetched.requirements.currently_due
    assert wait_for(lambda: receiver.of_type("account.updated"))[0].account == account.id


# --- checkout ---------------------------------------------------------------------------


def test_it_refuses_checkout_for_an_account_that_cannot_take_payments(
    client: stripe.StripeClient,
) -> None:
    account = new_account(client)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        new_session(client, account.id)

    assert excinfo.value.http_status == 400
    assert "charges_enabled is false" in str(excinfo.value.user_message)


def test_it_refuses_checkout_without_a_connected_account(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="Stripe-Account"):
        client.v1.checkout.sessions.create(params=session_params())


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        (
            {"payment_intent_data": {"application_fee_amount": 1501}},
            "payment_intent_data[application_fee_amount]",
        ),
        (
            {
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": 49,
                            "product_data": {"name": "Too cheap"},
                        },
                    }
                ]
            },
            "line_items[0][price_data][unit_amount]",
        ),
        (
            {
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": "xyz",
                            "unit_amount": 500,
                            "product_data": {"name": "Odd money"},
                        },
                    }
                ]
            },
            "line_items[0][price_data][currency]",
        ),
        ({"sucess_url": "http://typo.example/"}, "sucess_url"),
        ({"expires_at": int(time.time()) + 60}, "expires_at"),
    ],
)
def test_it_validates_checkout_sessions_like_stripe(
    client: stripe.StripeClient, standin: Standin, overrides: dict[str, Any], param: str
) -> None:
    account_id = ready_account(client, standin)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        new_session(client, account_id, **overrides)

    assert excinfo.value.param == param


def test_a_checkout_session_is_shaped_like_stripes(
    client: stripe.StripeClient, standin: Standin
) -> None:
    account_id = ready_account(client, standin)

    session = new_session(client, account_id)

    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.url == f"{standin.base}/hosted/checkout/{session.id}"
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert session.amount_total == session.amount_subtotal == 1500
    assert session.currency == "usd"
    assert session.metadata["store"] == "alice"
    assert session.client_reference_id == "o-1"
    assert session.customer_details is None and session.payment_intent is None
    assert session.livemode is False
    assert session.expires_at > session.created


def test_checkout_is_paid_on_the_hosted_page_and_signed_events_follow(
    client: stripe.StripeClient, standin: Standin, receiver: Receiver
) -> None:
    account_id = ready_account(client, standin)
    session = new_session(client, account_id)

    page = http("GET", session.url)
    assert page.status == 200
    assert "Field Guide PDF" in page.body and "$15.00" in page.body
    assert 'value="buyer@example.com"' in page.body
    assert 'value="4242 4242 4242 4242"' in page.body
    assert 'href="http://alice.localhost:8000/products/guide/"' in page.body

    paid = http(
        "POST",
        session.url,
        form={"email": "buyer@example.com", "card": "4242 4242 4242 4242", "exp": "12 / 34",
              "cvc": "123", "name": "Ann Buyer"},
    )  # fmt: skip

    assert paid.status == 302
    assert paid.headers["Location"] == (f"http://alice.localhost:8000/thanks/?session={session.id}")
    done = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent"]}, options={"stripe_account": account_id}
    )
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.customer_details.email == "buyer@example.com"
    intent = done.payment_intent
    assert intent.status == "succeeded" and intent.amount == 1500
    assert intent.application_fee_amount == 105
    assert intent.metadata["order"] == "o-1"
    charge = intent.latest_charge
    assert charge.paid and not charge.refunded and charge.amount_refunded == 0
    assert charge.payment_intent == intent.id
    assert charge.billing_details.email == "buyer@example.com"
    assert charge.application_fee_amount == 105

    expected = ["checkout.session.completed", "payment_intent.succeeded", "charge.succeeded"]
    wait_for(lambda: receiver.types()[-3:] == expected)
    for event in receiver.events[-3:]:
        assert event.account == account_id
        assert event.id.startswith("evt_") and event.livemode is False
        assert event.pending_webhooks == 1
    completed = receiver.of_type("checkout.session.completed")[0]
    assert completed.data.object.id == session.id
    assert completed.data.object.payment_intent == intent.id
    # Events caused by a person on a hosted page carry no API request.
    assert completed.request.id is None


def test_a_declined_card_shows_the_decline_and_leaves_the_session_open(
    client: stripe.StripeClient, standin: Standin, receiver: Receiver
) -> None:
    account_id = ready_account(client, standin)
    session = new_session(client, account_id)

    reply = http(
        "POST", session.url,
        form={"email": "buyer@example.com", "card": "4000 0000 0000 0002", "exp": "12 / 34",
              "cvc": "123"},
    )  # fmt: skip

    assert reply.status == 402
    assert "Your card was declined." in reply.body
    again = client.v1.checkout.sessions.retrieve(session.id, options={"stripe_account": account_id})
    assert (again.status, again.payment_status) == ("open", "unpaid")
    failed = wait_for(lambda: receiver.of_type("payment_intent.payment_failed"))[0]
    assert failed.account == account_id
    assert failed.data.object.last_payment_error.decline_code == "generic_decline"
    assert "checkout.session.completed" not in receiver.types()


def test_the_json_pay_endpoint_pays_without_a_browser(
    client: stripe.StripeClient, standin: Standin
) -> None:
    account_id = ready_account(client, standin)
    session = new_session(client, account_id)

    reply = pay(standin, session.id)

    assert reply.status == 200
    body = reply.json()
    assert body["ok"] is True and body["session"]["payment_status"] == "paid"
    assert body["redirect_url"].endswith(session.id)
    assert pay(standin, session.id).status == 400  # already paid


def test_a_session_belongs_to_its_account(client: stripe.StripeClient, standin: Standin) -> None:
    alice = ready_account(client, standin, "alice")
    bob = ready_account(client, standin, "bob")
    session = new_session(client, alice)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.checkout.sessions.retrieve(session.id, options={"stripe_account": bob})

    assert excinfo.value.http_status == 404
    assert excinfo.value.code == "resource_missing"


def test_sessions_are_listed_newest_first_with_filters_and_pages(
    client: stripe.StripeClient, standin: Standin
) -> None:
    account_id = ready_account(client, standin)
    sessions = [new_session(client, account_id) for _ in range(3)]
    pay(standin, sessions[0].id)
    pay(standin, sessions[2].id)
    options = {"stripe_account": account_id}

    first = client.v1.checkout.sessions.list(
        params={"status": "complete", "created": {"gte": sessions[0].created}, "limit": 1,
                "expand": ["data.payment_intent"]},
        options=options,
    )  # fmt: skip
    second = client.v1.checkout.sessions.list(
        params={"status": "complete", "limit": 1, "starting_after": first.data[0].id},
        options=options,
    )

    assert [s.id for s in first.data] == [sessions[2].id]
    assert first.has_more is True and first.url == "/v1/checkout/sessions"
    assert first.data[0].payment_intent.status == "succeeded"
    assert [s.id for s in second.data] == [sessions[0].id]
    assert second.has_more is False
    opened = client.v1.checkout.sessions.list(params={"status": "open"}, options=options)
    assert [s.id for s in opened.data] == [sessions[1].id]


def test_expiring_a_session_closes_the_hosted_page(
    client: stripe.StripeClient, standin: Standin, receiver: Receiver
) -> None:
    account_id = ready_account(client, standin)
    session = new_session(client, account_id)

    expired = client.v1.checkout.sessions.expire(session.id, options={"stripe_account": account_id})

    assert expired.status == "expired" and expired.url is None
    page = http("GET", session.url)
    assert page.status == 410 and "expired" in page.body
    assert wait_for(lambda: receiver.of_type("checkout.session.expired"))[0].account == account_id
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id, options={"stripe_account": account_id})


# --- idempotency ------------------------------------------------------------------------


def test_it_replays_a_repeated_idempotency_key(
    client: stripe.StripeClient, standin: Standin
) -> None:
    account_id = ready_account(client, standin)

    first = new_session(client, account_id, key="attempt-1")
    second = new_session(client, account_id, key="attempt-1")

    assert second.id == first.id
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    listed = client.v1.checkout.sessions.list(options={"stripe_account": account_id})
    assert len(listed.data) == 1


def test_it_refuses_a_reused_idempotency_key_with_different_params(
    client: stripe.StripeClient, standin: Standin
) -> None:
    account_id = ready_account(client, standin)
    new_session(client, account_id, key="attempt-2")

    with pytest.raises(stripe.IdempotencyError):
        new_session(client, account_id, key="attempt-2", client_reference_id="other")


# --- faults -----------------------------------------------------------------------------


def test_injected_500_and_429_faults_fail_only_the_next_matching_requests(
    client: stripe.StripeClient, standin: Standin
) -> None:
    account_id = ready_account(client, standin)
    standin.control("POST", "/faults", {"mode": "500", "count": 1, "path_prefix": "/v1/checkout"})
    standin.control("POST", "/faults", {"mode": "429", "count": 1, "path_prefix": "/v1/checkout"})

    client.v1.accounts.retrieve(account_id)  # another path: unaffected
    with pytest.raises(stripe.APIError):
        new_session(client, account_id, key="k-fault")
    with pytest.raises(stripe.RateLimitError):
        new_session(client, account_id, key="k-fault")
    session = new_session(client, account_id, key="k-fault")  # the retry with the same key

    assert session.status == "open"
    faults = [r["fault"] for r in standin.requests("/v1/checkout")]
    assert faults == ["500", "429", None]


def test_a_timeout_fault_stalls_past_the_clients_timeout(
    standin: Standin, client: stripe.StripeClient
) -> None:
    account_id = ready_account(client, standin)
    impatient = standin.client(http_client=stripe.RequestsClient(timeout=0.3))
    standin.control(
        "POST", "/faults",
        {"mode": "timeout", "seconds": 1.5, "path_prefix": "/v1/checkout", "after": "execute"},
    )  # fmt: skip

    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.checkout.sessions.create(
            params=session_params(), options={"stripe_account": account_id, "idempotency_key": "t1"}
        )
    # Stripe did the work although the client never heard: the retry gets the same session.
    retried = client.v1.checkout.sessions.create(
        params=session_params(), options={"stripe_account": account_id, "idempotency_key": "t1"}
    )

    assert retried.last_response.headers["Idempotent-Replayed"] == "true"


# --- refunds, disputes, disconnection ---------------------------------------------------


def _paid_session(client: stripe.StripeClient, standin: Standin) -> tuple[str, Any]:
    account_id = ready_account(client, standin)
    session = new_session(client, account_id)
    assert pay(standin, session.id).status == 200
    done = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent"]}, options={"stripe_account": account_id}
    )
    return account_id, done


def test_refunds_update_the_charge_and_a_second_full_refund_is_refused(
    client: stripe.StripeClient, standin: Standin, receiver: Receiver
) -> None:
    account_id, session = _paid_session(client, standin)
    options = {"stripe_account": account_id}

    partial = client.v1.refunds.create(
        params={"charge": session.payment_intent.latest_charge.id, "amount": 500}, options=options
    )
    rest = client.v1.refunds.create(
        params={"payment_intent": session.payment_intent.id, "refund_application_fee": True,
                "reason": "requested_by_customer", "metadata": {"note": "wrong file"}},
        options=options,
    )  # fmt: skip

    assert partial.id.startswith("re_") and partial.amount == 500
    assert rest.amount == 1000 and rest.status == "succeeded"
    charge = client.v1.charges.retrieve(session.payment_intent.latest_charge.id, options=options)
    assert charge.refunded is True and charge.amount_refunded == 1500
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.refunds.create(
            params={"payment_intent": session.payment_intent.id}, options=options
        )
    assert excinfo.value.code == "charge_already_refunded"
    refunded = wait_for(lambda: len(receiver.of_type("charge.refunded")) == 2 and receiver.of_type("charge.refunded"))  # fmt: skip
    assert refunded[-1].data.object.refunded is True and refunded[-1].account == account_id
    assert len(wait_for(lambda: receiver.of_type("refund.created"))) >= 1


def test_disputes_open_and_close_with_events(
    client: stripe.StripeClient, standin: Standin, receiver: Receiver
) -> None:
    account_id, session = _paid_session(client, standin)
    charge_id = session.payment_intent.latest_charge.id

    opened = standin.control("POST", "/disputes", {"charge": charge_id}).json()
    closed = standin.control("POST", f"/disputes/{opened['id']}/close", {"status": "lost"}).json()

    assert opened["id"].startswith("dp_") and opened["status"] == "needs_response"
    assert closed["status"] == "lost"
    created = wait_for(lambda: receiver.of_type("charge.dispute.created"))[0]
    assert created.account == account_id and created.data.object.charge == charge_id
    assert (
        wait_for(lambda: receiver.of_type("charge.dispute.closed"))[0].data.object.status == "lost"
    )
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.refunds.create(
            params={"charge": charge_id}, options={"stripe_account": account_id}
        )
    assert excinfo.value.code == "charge_disputed"


def test_a_dispute_reaches_every_status_stripe_has_with_the_right_event(
    client: stripe.StripeClient, standin: Standin, receiver: Receiver
) -> None:
    account_id, session = _paid_session(client, standin)
    charge_id = session.payment_intent.latest_charge.id
    inquiry = standin.control(
        "POST", "/disputes", {"charge": charge_id, "status": "warning_needs_response"}
    ).json()
    assert inquiry["status"] == "warning_needs_response" and inquiry["is_charge_refundable"]
    for status in ("warning_under_review", "warning_closed"):
        moved = standin.control("POST", f"/disputes/{inquiry['id']}/status", {"status": status})
        assert moved.json()["status"] == status
    # Closed stays closed.
    again = standin.control("POST", f"/disputes/{inquiry['id']}/status", {"status": "won"})
    assert again.status == 400
    assert wait_for(lambda: receiver.of_type("charge.dispute.closed"))[0].data.object.status == (
        "warning_closed"
    )
    # The platform can read the dispute on the connected account, not elsewhere.
    read = client.v1.disputes.retrieve(inquiry["id"], options={"stripe_account": account_id})
    assert read.status == "warning_closed"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.disputes.retrieve(inquiry["id"])

    _, other = _paid_session(client, standin)
    chargeback = standin.control(
        "POST", "/disputes", {"charge": other.payment_intent.latest_charge.id}
    ).json()
    walk = ["under_review", "lost", "appeal_needs_response", "appeal_under_review", "won"]
    for status in walk:
        reply = standin.control("POST", f"/disputes/{chargeback['id']}/status", {"status": status})
        assert reply.status == 200, reply.json()
    prevented = standin.control(
        "POST", "/disputes", {"charge": _paid_session(client, standin)[1].payment_intent.latest_charge.id,
                              "status": "prevented"},
    ).json()  # fmt: skip
    assert prevented["status"] == "prevented"
    bad = standin.control("POST", f"/disputes/{chargeback['id']}/status", {"status": "nope"})
    assert bad.status == 400


def test_events_take_the_mode_of_the_key_and_a_test_event_can_reach_a_live_account(
    standin: Standin, receiver: Receiver
) -> None:
    live = stripe.StripeClient(  # the platform's live key
        "sk_live_standin", base_addresses={"api": standin.base}, max_network_retries=0
    )
    account = live.v1.accounts.create(
        params={"type": "standard", "email": "alice@example.com"},
        options={"idempotency_key": f"live-{time.monotonic_ns()}"},
    )
    assert account.livemode is True
    test_event = standin.control(
        "POST", f"/accounts/{account.id}/deauthorize", {"livemode": False}
    ).json()["event"]
    assert test_event["livemode"] is False
    # Still connected in live mode: the platform can read it.
    assert live.v1.accounts.retrieve(account.id).id == account.id
    live_event = standin.control("POST", f"/accounts/{account.id}/deauthorize").json()["event"]
    assert live_event["livemode"] is True


def test_a_connected_account_can_act_alone_with_its_own_key(
    client: stripe.StripeClient, standin: Standin
) -> None:
    account_id = ready_account(client, standin)
    key = standin.control("POST", f"/accounts/{account_id}/keys").json()["secret_key"]
    own = stripe.StripeClient(key, base_addresses={"api": standin.base}, max_network_retries=0)
    session = own.v1.checkout.sessions.create(
        params=session_params(payment_intent_data={"metadata": {"order": "mine"}})
    )
    assert session.id.startswith("cs_")
    # It is on her account: the platform reads it there.
    read = client.v1.checkout.sessions.retrieve(session.id, options={"stripe_account": account_id})
    assert read.id == session.id
    other = ready_account(client, standin, "mallory")
    with pytest.raises(stripe.PermissionError):
        own.v1.checkout.sessions.create(params=session_params(), options={"stripe_account": other})


def test_deauthorizing_tells_the_platform_and_locks_it_out(
    client: stripe.StripeClient, standin: Standin, receiver: Receiver
) -> None:
    account_id = ready_account(client, standin)

    assert standin.control("POST", f"/accounts/{account_id}/deauthorize").status == 200

    event = wait_for(lambda: receiver.of_type("account.application.deauthorized"))[0]
    assert event.account == account_id
    assert event.data.object.object == "application"
    assert event.data.object.id.startswith("ca_")
    with pytest.raises(stripe.PermissionError):
        new_session(client, account_id)


# --- recording, delivery, persistence ---------------------------------------------------


def test_it_records_every_request_with_account_key_and_params(
    client: stripe.StripeClient, standin: Standin
) -> None:
    account_id = ready_account(client, standin)
    standin.control("DELETE", "/requests")

    new_session(client, account_id, key="rec-1")

    (entry,) = standin.requests("/v1/checkout")
    assert entry["method"] == "POST"
    assert entry["stripe_account"] == account_id
    assert entry["idempotency_key"] == "rec-1"
    assert entry["status"] == 200
    assert entry["params"]["payment_intent_data"]["application_fee_amount"] == "105"
    assert entry["params"]["line_items"][0]["price_data"]["product_data"]["name"] == (
        "Field Guide PDF"
    )
    assert entry["params"]["metadata"] == {"order": "o-1", "store": "alice"}


def test_failed_webhook_deliveries_are_retried_and_recorded(
    client: stripe.StripeClient, standin: Standin, receiver: Receiver
) -> None:
    receiver.fail_next = 2

    ready_account(client, standin)

    event = wait_for(lambda: receiver.of_type("account.updated"))[0]
    view = wait_for(
        lambda: (
            (v := standin.control("GET", f"/events/{event.id}").json())["delivery"]["status"]
            == "delivered"
            and v
        )
    )
    assert [a["status_code"] for a in view["delivery"]["attempts"]] == [500, 500, 200]


def test_deliveries_wait_quietly_for_an_endpoint_that_starts_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # `make run`: the stand-in is up (and the demo store connects) before the web server.
    caplog.set_level(logging.INFO, logger="stripe_standin")
    port = free_port()
    state = Receiver()
    server, base = serve_in_thread(
        webhook_url=f"http://127.0.0.1:{port}/stripe/webhook/", webhook_secret=SECRET
    )
    stand = Standin(server, base)
    receiver_server = None
    try:
        ready_account(stand.client(), stand)
        time.sleep(1.0)
        (queued,) = stand.control("GET", "/events?type=account.updated").json()["data"]
        assert queued["delivery"]["attempts"] == []  # nothing tried against a closed port

        receiver_server = serve_receiver(state, port)

        wait_for(lambda: state.of_type("account.updated"), timeout=10)
        view = wait_for(
            lambda: (
                (v := stand.control("GET", f"/events/{queued['id']}").json())["delivery"]["status"]
                == "delivered"
                and v
            )
        )
        assert [a["status_code"] for a in view["delivery"]["attempts"]] == [200]
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    finally:
        server.shutdown()
        if receiver_server is not None:
            receiver_server.shutdown()
            receiver_server.server_close()


def test_past_the_wait_a_closed_endpoint_is_a_failed_attempt_as_before() -> None:
    server, base = serve_in_thread(
        webhook_url=f"http://127.0.0.1:{free_port()}/stripe/webhook/",
        webhook_secret=SECRET,
        endpoint_wait_seconds=0.2,
    )
    stand = Standin(server, base)
    try:
        stand.control("POST", "/config", {"retry_delays": [0.05]})
        ready_account(stand.client(), stand)
        (event,) = stand.control("GET", "/events?type=account.updated").json()["data"]
        view = wait_for(
            lambda: (
                (v := stand.control("GET", f"/events/{event['id']}").json())["delivery"]["status"]
                == "failed"
                and v
            )
        )
        assert len(view["delivery"]["attempts"]) == 2
        assert all("refused" in a["error"].lower() for a in view["delivery"]["attempts"])
    finally:
        server.shutdown()


def test_held_events_are_delivered_on_demand_with_a_host_header(
    client: stripe.StripeClient, standin: Standin, receiver: Receiver
) -> None:
    standin.control("POST", "/config", {"deliver": False, "webhook_host_header": "alice.localhost:8000"})  # fmt: skip
    ready_account(client, standin)
    # Events are queued (here: held) just after the causing request has been answered.
    held = wait_for(
        lambda: (
            (e := standin.control("GET", "/events?type=account.updated").json()["data"])
            and e[0]["delivery"]["status"] == "held"
            and e[0]
        )
    )
    time.sleep(0.2)
    assert receiver.events == []

    attempt = standin.control("POST", f"/events/{held['id']}/deliver").json()

    assert attempt["ok"] is True and attempt["status_code"] == 200
    assert receiver.types() == ["account.updated"]
    assert receiver.hosts == ["alice.localhost:8000"]


def test_state_survives_a_restart_with_a_state_file(tmp_path: Path, receiver: Receiver) -> None:
    state_file = tmp_path / "run" / "stripe-standin.json"
    server, base = serve_in_thread(
        "127.0.0.1", 0, webhook_url=receiver.url, webhook_secret=SECRET, state_file=str(state_file)
    )
    stand = Standin(server, base)
    account_id = ready_account(stand.client(), stand)
    session = new_session(stand.client(), account_id, key="persist-1")
    server.shutdown()
    assert state_file.exists()

    server, base = serve_in_thread(
        "127.0.0.1", 0, webhook_url=receiver.url, webhook_secret=SECRET, state_file=str(state_file)
    )
    try:
        client = Standin(server, base).client()
        assert client.v1.accounts.retrieve(account_id).charges_enabled is True
        again = new_session(client, account_id, key="persist-1")
        assert again.id == session.id  # idempotency records survive too
    finally:
        server.shutdown()


def test_it_runs_from_the_command_line(tmp_path: Path) -> None:
    port = free_port()
    state_file = tmp_path / "state.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.stripe_standin", "--port", str(port),
         "--webhook-secret", SECRET, "--state-file", str(state_file), "--log-level", "WARNING"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _healthy(base), timeout=10)
        account = new_account(
            stripe.StripeClient("sk_test_cli", base_addresses={"api": base}, max_network_retries=0)
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert process.returncode == 0
    assert account.id in state_file.read_text()


def _healthy(base: str) -> bool:
    try:
        return http("GET", f"{base}/_standin/health").status == 200
    except OSError:
        return False


def test_one_signer_for_text_and_bytes_that_stripe_verifies() -> None:
    from devtools.stripe_standin import sign

    body = json.dumps({"id": "evt_1", "object": "event", "type": "ping"})
    assert sign(body, SECRET, 1_700_000_000) == sign(body.encode(), SECRET, 1_700_000_000)
    event = stripe.Webhook.construct_event(body.encode(), sign(body.encode(), SECRET), SECRET)
    assert event.id == "evt_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, sign(body, "whsec_other"), SECRET)


# --- Stripe Tax on Checkout ------------------------------------------------------------


def _taxed_items(behavior: str | None = "exclusive", code: str | None = "txcd_10302000") -> list:
    price_data: dict[str, Any] = {
        "currency": "eur",
        "unit_amount": 2000,
        "product_data": {"name": "Field Guide PDF"},
    }
    if behavior:
        price_data["tax_behavior"] = behavior
    if code:
        price_data["product_data"]["tax_code"] = code
    return [{"quantity": 1, "price_data": price_data}]


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        (
            {"automatic_tax": {"enabled": True}, "line_items": _taxed_items(behavior=None)},
            "line_items[0][price_data][tax_behavior]",
        ),
        (
            {"line_items": _taxed_items(behavior="sometimes")},
            "line_items[0][price_data][tax_behavior]",
        ),
        (
            {"line_items": _taxed_items(code="ebook")},
            "line_items[0][price_data][product_data][tax_code]",
        ),
        ({"billing_address_collection": "always"}, "billing_address_collection"),
    ],
)
def test_it_validates_tax_parameters_like_stripe(
    client: stripe.StripeClient, standin: Standin, overrides: dict[str, Any], param: str
) -> None:
    account_id = ready_account(client, standin)
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        new_session(client, account_id, **overrides)
    assert excinfo.value.param == param


@pytest.mark.parametrize(
    ("code", "behavior", "country", "tax", "total", "percent", "reason"),
    [
        ("txcd_10302000", "exclusive", "DE", 140, 2140, 7.0, "reduced_rated"),
        ("txcd_10000000", "exclusive", "DE", 380, 2380, 19.0, "standard_rated"),
        (None, "exclusive", "FR", 400, 2400, 20.0, "standard_rated"),  # no code: general
        ("txcd_10302000", "inclusive", "DE", 131, 2000, 7.0, "reduced_rated"),
        ("txcd_10302000", "exclusive", "GB", 0, 2000, 0.0, "zero_rated"),
        ("txcd_10302000", "exclusive", "JP", 0, 2000, 0.0, "not_collecting"),
    ],
)
def test_automatic_tax_is_computed_from_the_address_and_reported_as_stripe_does(
    client: stripe.StripeClient,
    standin: Standin,
    code: str | None,
    behavior: str,
    country: str,
    tax: int,
    total: int,
    percent: float,
    reason: str,
) -> None:
    account_id = ready_account(client, standin)
    session = new_session(
        client,
        account_id,
        automatic_tax={"enabled": True},
        billing_address_collection="auto",
        line_items=_taxed_items(behavior=behavior, code=code),
    )
    assert session.automatic_tax.enabled is True
    assert session.automatic_tax.status == "requires_location_inputs"
    assert session.automatic_tax.liability.type == "self"
    assert session.amount_total == 2000 and session.total_details.amount_tax == 0

    no_country = standin.control("POST", f"/sessions/{session.id}/pay", {"email": "b@example.com"})
    assert no_country.status == 400
    assert no_country.json()["error"]["message"] == "Choose your country or region."
    paid = standin.control(
        "POST", f"/sessions/{session.id}/pay", {"email": "b@example.com", "country": country}
    )
    assert paid.status == 200, paid.body

    plain = client.v1.checkout.sessions.retrieve(session.id, options={"stripe_account": account_id})
    assert plain.total_details.amount_tax == tax and plain.amount_total == total
    assert "breakdown" not in plain.total_details  # includable: only when expanded
    assert plain.customer_details.address.country == country
    assert plain.automatic_tax.status == "complete"
    full = client.v1.checkout.sessions.retrieve(
        session.id,
        params={"expand": ["total_details.breakdown", "payment_intent"]},
        options={"stripe_account": account_id},
    )
    (entry,) = full.total_details.breakdown.taxes
    assert (entry.amount, entry.taxability_reason) == (tax, reason)
    assert entry.rate.object == "tax_rate" and entry.rate.country == country
    assert entry.rate.effective_percentage == percent
    assert entry.rate.inclusive is (behavior == "inclusive")
    assert full.payment_intent.amount == total  # the card is charged the total with tax
    listed = client.v1.checkout.sessions.list(
        params={"expand": ["data.total_details.breakdown"]},
        options={"stripe_account": account_id},
    )
    assert listed.data[0].total_details.breakdown.taxes[0].amount == tax


def test_the_hosted_page_asks_for_a_us_state_for_us_tax(
    client: stripe.StripeClient, standin: Standin
) -> None:
    account_id = ready_account(client, standin)
    session = new_session(
        client, account_id, automatic_tax={"enabled": True}, line_items=_taxed_items()
    )
    page = http("GET", f"{standin.base}/hosted/checkout/{session.id}")
    assert "Country or region" in page.body and "State (United States only)" in page.body
    form = {"email": "b@example.com", "card": "4242424242424242", "exp": "12 / 34",
            "cvc": "123", "country": "US"}  # fmt: skip
    refused = http("POST", f"{standin.base}/hosted/checkout/{session.id}", form=form)
    assert refused.status == 400 and "Choose your state." in refused.body
    form["state"] = "WA"
    assert http("POST", f"{standin.base}/hosted/checkout/{session.id}", form=form).status == 302
    paid = client.v1.checkout.sessions.retrieve(session.id, options={"stripe_account": account_id})
    assert paid.total_details.amount_tax == 130  # Washington: 6.5 %


# --- balance transactions, balance, payouts ------------------------------------------------


def test_a_charge_has_a_balance_transaction_with_stripes_fee_and_the_application_fee(
    client: stripe.StripeClient, standin: Standin
) -> None:
    account_id, session = _paid_session(client, standin)
    options = {"stripe_account": account_id}
    charge = client.v1.charges.retrieve(
        session.payment_intent.latest_charge.id,
        params={"expand": ["balance_transaction"]},
        options=options,
    )
    txn = charge.balance_transaction
    assert txn.object == "balance_transaction" and txn.id.startswith("txn_")
    assert (txn.type, txn.reporting_category, txn.source) == ("charge", "charge", charge.id)
    assert txn.amount == 1500 and txn.currency == "usd" and txn.exchange_rate is None
    fees = {d.type: d.amount for d in txn.fee_details}
    assert fees == {"stripe_fee": 74, "application_fee": 105}  # 2.9 % of 1500 + 30; ours
    assert txn.fee == 179 and txn.net == 1500 - 179
    assert txn.status == "pending" and txn.available_on > txn.created
    # The same object through the session, three levels down, and by id.
    deep = client.v1.checkout.sessions.retrieve(
        session.id,
        params={"expand": ["payment_intent.latest_charge.balance_transaction"]},
        options=options,
    )
    assert deep.payment_intent.latest_charge.balance_transaction.net == 1321
    assert client.v1.balance_transactions.retrieve(txn.id, options=options).fee == 179
    # Another account cannot read it.
    other = ready_account(client, standin, "mallory")
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.balance_transactions.retrieve(txn.id, options={"stripe_account": other})


def test_an_account_set_to_settle_later_gets_its_transaction_with_charge_updated(
    client: stripe.StripeClient, standin: Standin, receiver: Receiver
) -> None:
    account_id = ready_account(client, standin)
    standin.control("POST", f"/accounts/{account_id}/settle_later", {"on": True})
    session = new_session(client, account_id)
    assert pay(standin, session.id).status == 200
    options = {"stripe_account": account_id}
    done = client.v1.checkout.sessions.retrieve(
        session.id,
        params={"expand": ["payment_intent.latest_charge.balance_transaction"]},
        options=options,
    )
    charge = done.payment_intent.latest_charge
    assert charge.balance_transaction is None
    assert standin.control("POST", f"/charges/{charge.id}/settle").status == 200
    updated = wait_for(lambda: receiver.of_type("charge.updated"))
    assert updated[0].data.object.balance_transaction.startswith("txn_")
    assert updated[0].data.previous_attributes.balance_transaction is None
    again = client.v1.charges.retrieve(
        charge.id, params={"expand": ["balance_transaction"]}, options=options
    )
    assert again.balance_transaction.net == 1500 - 74 - 105


def test_the_balance_and_payouts_of_a_connected_account(
    client: stripe.StripeClient, standin: Standin, receiver: Receiver
) -> None:
    account_id, _ = _paid_session(client, standin)
    options = {"stripe_account": account_id}
    balance = client.v1.balance.retrieve(options=options)
    assert balance.object == "balance"
    assert [(b.amount, b.currency) for b in balance.pending] == [(1321, "usd")]
    assert [(b.amount, b.currency) for b in balance.available] == [(0, "usd")]
    assert balance.pending[0].source_types.card == 1321
    assert client.v1.payouts.list(options=options).data == []
    # More than is available is refused, as Stripe does.
    assert standin.control("POST", f"/accounts/{account_id}/payouts", {"amount": 1}).status == 400
    standin.control("POST", f"/accounts/{account_id}/available")
    first = standin.control("POST", f"/accounts/{account_id}/payouts", {"amount": 300}).json()
    second = standin.control("POST", f"/accounts/{account_id}/payouts", {}).json()
    assert (first["amount"], second["amount"]) == (300, 1021)
    balance = client.v1.balance.retrieve(options=options)
    assert [b.amount for b in balance.available] == [0]
    page = client.v1.payouts.list(params={"limit": 1}, options=options)
    assert [p.id for p in page.data] == [second["id"]] and page.has_more is True
    rest = client.v1.payouts.list(params={"starting_after": second["id"]}, options=options)
    assert [p.id for p in rest.data] == [first["id"]]
    payout = client.v1.payouts.retrieve(first["id"], options=options)
    assert (payout.status, payout.automatic, payout.method, payout.type) == (
        "paid", True, "standard", "bank_account",
    )  # fmt: skip
    assert payout.balance_transaction.startswith("txn_") and payout.arrival_date > payout.created
    assert wait_for(lambda: receiver.of_type("payout.paid"))
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payouts.list(params={"status": "lost"}, options=options)
    # Another account's balance and payouts are its own.
    other = ready_account(client, standin, "mallory")
    theirs = client.v1.balance.retrieve(options={"stripe_account": other})
    assert [b.amount for b in theirs.available + theirs.pending] == [0, 0]
    assert client.v1.payouts.list(options={"stripe_account": other}).data == []
