"""The HTTP server: request pipeline for `/v1`, hosted pages, control API, lifecycle.

An API request goes: record -> authenticate -> injected fault? -> (under the store lock)
Stripe-Account check -> idempotency replay/mismatch -> endpoint -> remember the result
for its Idempotency-Key. Events the request caused are queued for webhook delivery only
after the response has been written, so a browser following a redirect is never held up
by the app's webhook handler (which may itself call this server).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from . import api, bank, control, hosted
from .control import Faults
from .params import StripeError, decode_query
from .responses import Response, json_response
from .store import Effects, Settings, Store, new_id
from .webhooks import Dispatcher

log = logging.getLogger("stripe_standin")

MAX_BODY = 10 * 1024 * 1024


def _redact(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "****"


def _api_key(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("Authorization") or ""
    if auth.startswith("Bearer "):
        return auth[7:].strip() or None
    if auth.startswith("Basic "):
        # curl -u sk_test_...: works against real Stripe, so it works here too.
        try:
            return base64.b64decode(auth[6:]).decode().split(":", 1)[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


class App:
    """Everything but the socket: routes a request to a Response plus its Effects."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.faults = Faults()
        self.dispatcher = Dispatcher(store, settings)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._closed = False

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self.store.start_saver()
        self.dispatcher.start()
        self._ticker = threading.Thread(target=self._tick, name="standin-clock", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        # Sessions expire on time and emit checkout.session.expired even if nobody looks.
        while not self._stop.wait(1.0):
            fx = Effects()
            with self.store.lock:
                bank.sweep_expired(self.store, self.settings, fx)
            self.after_response(fx)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()  # also wakes requests stalled by a "timeout" fault
        if self._ticker:
            self._ticker.join(timeout=5)
        self.dispatcher.stop()
        self.store.close()

    def after_response(self, fx: Effects) -> None:
        if fx.events and not self._closed:
            self.dispatcher.enqueue(fx.events)

    # --- dispatch -----------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[Response, Effects]:
        fx = Effects()
        split = urlsplit(raw_path)
        path = split.path
        try:
            if path.startswith("/v1/"):
                return self.api(method, path, split.query, headers, body, fx), fx
            if path.startswith("/_standin"):
                return control.handle(self, method, path, split.query, body, fx), fx
            if path == "/favicon.ico":
                return Response(204), fx
            with self.store.lock:
                return hosted.handle(self.store, self.settings, fx, method, path, body), fx
        except Exception as exc:
            log.exception("Unhandled error for %s %s", method, raw_path)
            error = StripeError(
                500, f"The local Stripe stand-in crashed: {exc!r}", type="api_error"
            )
            return json_response(500, error.body()), fx

    # --- /v1 ----------------------------------------------------------------------------

    def api(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        fx: Effects,
    ) -> Response:
        started = time.monotonic()
        request_id = new_id("req_", 14)
        account = headers.get("Stripe-Account") or None
        idem_key = headers.get("Idempotency-Key") or None
        version = headers.get("Stripe-Version") or None
        fx.request_id, fx.idempotency_key = request_id, idem_key
        entry: dict[str, Any] = {
            "id": request_id,
            "at": time.time(),
            "method": method,
            "path": path,
            "stripe_account": account,
            "idempotency_key": idem_key,
            "stripe_version": version,
            "params": {},
            "status": None,
            "replayed": False,
            "fault": None,
            "error": None,
            "duration_ms": None,
        }
        self.store.record_request(entry)
        base_headers = {"Request-Id": request_id}
        if idem_key:
            base_headers["Idempotency-Key"] = idem_key
        if version:
            base_headers["Stripe-Version"] = version

        def finish(response: Response) -> Response:
            response.headers = {**base_headers, **response.headers}
            entry["status"] = response.status
            if response.status >= 400:
                try:
                    error = json.loads(response.body).get("error", {})
                    entry["error"] = {k: error.get(k) for k in ("type", "code", "message", "param")}
                except ValueError:
                    pass
            entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            log.info(
                "%s %s %s%s%s", method, path, response.status,
                f" [{account}]" if account else "",
                " (replayed)" if entry["replayed"] else "",
            )  # fmt: skip
            return response

        def fail(exc: StripeError) -> Response:
            return finish(json_response(exc.status, exc.body(), exc.headers))

        try:
            if method == "POST" and "json" in (headers.get("Content-Type") or ""):
                params = json.loads(body or b"{}")
            elif method == "POST":
                params = decode_query(body.decode("utf-8"))
            else:
                params = decode_query(query)
        except (StripeError, ValueError) as exc:
            if isinstance(exc, StripeError):
                return fail(exc)
            return fail(StripeError(400, f"Could not parse the request body: {exc}"))
        entry["params"] = params

        key = _api_key(headers)
        if not key:
            return fail(StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            ))  # fmt: skip
        if not key.startswith("sk_"):
            return fail(StripeError(401, f"Invalid API Key provided: {_redact(key)}"))
        fx.livemode = key.startswith("sk_live_")
        # A connected account's own key (POST /_standin/accounts/{id}/keys): the seller
        # acting on their account without the platform. Requests act on that account.
        with self.store.lock:
            owner = self.store.account_for_key(key)
        if owner is not None:
            if account and account != owner:
                return fail(bank.account_access_error(self.settings, account))
            account = owner
            entry["stripe_account"] = owner
            entry["own_key"] = True
            fx.own_key = True

        fault = self.faults.take(method, path)
        if fault is not None:
            entry["fault"] = fault.mode
            if fault.mode == "429":
                return fail(StripeError(
                    429,
                    "Request rate limit exceeded. You can learn more about rate limits here "
                    "https://stripe.com/docs/rate-limits.",
                    type="rate_limit_error", code="rate_limit",
                ))  # fmt: skip
            if fault.mode == "500":
                return fail(StripeError(
                    500, "An unknown error occurred (injected by the local Stripe stand-in).",
                    type="api_error",
                ))  # fmt: skip
            seconds = (
                fault.seconds if fault.seconds is not None else self.settings.fault_timeout_seconds
            )
            if fault.after == "execute":
                # The scary case: Stripe did the work but the client never heard back.
                response = self._execute(method, path, params, account, idem_key, version, fx)
                self._stop.wait(seconds)
                return finish(response)
            self._stop.wait(seconds)
            return fail(StripeError(
                500, f"Timed out after {seconds:g}s (injected by the local Stripe stand-in).",
                type="api_error",
            ))  # fmt: skip

        return finish(self._execute(method, path, params, account, idem_key, version, fx))

    def _execute(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        account: str | None,
        idem_key: str | None,
        version: str | None,
        fx: Effects,
    ) -> Response:
        store = self.store
        with store.lock:
            if version:
                store.last_api_version = version
            scope = fingerprint = None
            if method == "POST" and idem_key:
                # Stripe scopes keys per account; the same key on another account is new.
                scope = f"{account or '-'}|{idem_key}"
                fingerprint = json.dumps([method, path, params], sort_keys=True)
                record = store.idempotency.get(scope)
                if record is not None:
                    if record["fingerprint"] != fingerprint:
                        exc = StripeError(
                            400,
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{idem_key}' if you meant to execute a different request.",
                            type="idempotency_error",
                        )
                        return json_response(400, exc.body())
                    self._mark_replayed(fx)
                    return Response(
                        record["status"],
                        record["body"].encode(),
                        "application/json",
                        {"Idempotent-Replayed": "true", "Original-Request": record["request_id"]},
                    )
            try:
                if account:
                    bank.usable_account(store, self.settings, account)
                call = api.Call(store, self.settings, fx, method, path, params, account)
                status, body = api.handle(call)
                response = json_response(status, body)
            except StripeError as exc:
                response = json_response(exc.status, exc.body(), exc.headers)
            # Stripe saves results once an endpoint has started executing: successes and
            # card declines. Validation errors are not saved, so a fixed retry can succeed.
            if scope and (200 <= response.status < 300 or response.status == 402):
                store.remember(
                    scope,
                    {
                        "fingerprint": fingerprint,
                        "status": response.status,
                        "body": response.body.decode(),
                        "request_id": fx.request_id,
                        "created": int(time.time()),
                    },
                )
            return response

    def _mark_replayed(self, fx: Effects) -> None:
        with self.store.lock:
            for entry in reversed(self.store.requests):
                if entry["id"] == fx.request_id:
                    entry["replayed"] = True
                    break


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as stripe-python's requests session expects
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK of the headers (~40 ms per call on a kept-alive connection).
    disable_nagle_algorithm = True
    server: StandinServer

    def version_string(self) -> str:
        return "stripe-standin/1.0"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        response, fx = self.server.app.handle(method, self.path, self.headers, body)
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its timeout fired during a "timeout" fault).
            self.close_connection = True
        finally:
            self.server.app.after_response(fx)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # App logs API calls itself, with the account and replay flag.

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


class StandinServer(ThreadingHTTPServer):
    # Daemon handler threads: a request stalled by a fault must not block shutdown.
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, Handler)
        self.app = app
        self._serving = False

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._serving = True
        try:
            super().serve_forever(poll_interval)
        finally:
            self._serving = False

    def shutdown(self) -> None:
        """Stop serving (if serving), stop background threads, save state, close the socket."""
        if self._serving:
            super().shutdown()
        self.close()

    def close(self) -> None:
        self.app.close()
        self.server_close()


def make_server(
    host: str,
    port: int,
    *,
    webhook_url: str | None,
    webhook_secret: str,
    public_url: str | None = None,
    state_file: str | None = None,
    webhook_host_header: str | None = None,
    deliver: bool = True,
    api_version: str | None = None,
    endpoint_wait_seconds: float = 120.0,
) -> StandinServer:
    settings = Settings(
        public_url="",
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        webhook_host_header=webhook_host_header,
        deliver=deliver,
        api_version=api_version,
        endpoint_wait_seconds=endpoint_wait_seconds,
    )
    app = App(settings, Store(state_file))
    server = StandinServer((host, port), app)
    settings.public_url = (public_url or base_url_of(server)).rstrip("/")
    app.start()
    return server


def base_url_of(server: StandinServer) -> str:
    host, port = server.server_address[:2]
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def serve_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    webhook_url: str | None,
    webhook_secret: str,
    public_url: str | None = None,
    state_file: str | None = None,
    webhook_host_header: str | None = None,
    deliver: bool = True,
    endpoint_wait_seconds: float = 120.0,
) -> tuple[StandinServer, str]:
    """Start a stand-in on a background thread (port 0 = any free port).

    Returns the server (call `server.shutdown()` when done) and its base URL, which is
    what stripe-python's `base_addresses` should point at.
    """
    server = make_server(
        host,
        port,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        public_url=public_url,
        state_file=state_file,
        webhook_host_header=webhook_host_header,
        deliver=deliver,
        endpoint_wait_seconds=endpoint_wait_seconds,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="standin-http", daemon=True
    )
    thread.start()
    # shutdown() only waits for serve_forever if it has begun; make sure it has.
    while not server._serving and thread.is_alive():
        time.sleep(0.001)
    return server, base_url_of(server)
