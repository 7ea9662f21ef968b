"""config.edge answers the second anonymous visitor of a cached store page before Django,
as gunicorn calls the app: same page, same headers, a CSRF token Django accepts, views and
metrics counted — and never a stale price, another store's page, or a visitor's cookie.

Requests go through `Edge(WSGIHandler())` with WSGI environs, as gunicorn sends them; a
counter on the inner handler tells which answers Django made."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.middleware.csrf import _unmask_cipher_token
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.pageviews import _redis, day_key, days_key
from config import edge as edge_module
from config.edge import Edge
from tenants.models import Domain
from tenants.routing import hosts_forget
from tenants.services import domain_add, domain_remove, store_suspend
from tests.catalog.test_page_cache import ATTEMPT, TOKEN, published, update_price

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="the edge needs Redis")

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36"


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes, by: str):
        self.status, self.headers, self.body, self.by = status, headers, body, by
        self.text = body.decode()

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k.lower() == name.lower()]
        return found[0] if found else None

    def cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]


class EdgeClient:
    """GETs through the edge around Django's own WSGI handler."""

    def __init__(self):
        self.django_calls = 0
        handler = WSGIHandler()

        def django(environ, start_response):
            self.django_calls += 1
            return handler(environ, start_response)

        self.app = Edge(django)

    def request(self, host: str, path: str, method: str = "GET", **headers) -> Answer:
        environ = RequestFactory().generic(method, path, HTTP_HOST=host, **headers).environ
        before = self.django_calls
        answered: dict = {}

        def start_response(status, response_headers, exc_info=None):
            answered["status"], answered["headers"] = status, list(response_headers)

        # As Django's test client: a request must not close the test's transaction.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            result = self.app(environ, start_response)
            body = b"".join(result)
            if hasattr(result, "close"):
                result.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        by = "django" if self.django_calls > before else "edge"
        return Answer(answered["status"], answered["headers"], body, by)

    def get(self, host: str, path: str, **headers) -> Answer:
        headers.setdefault("HTTP_USER_AGENT", BROWSER)
        return self.request(host, path, **headers)


def _plain(text: str) -> str:
    """The page without what differs per visitor."""
    return ATTEMPT.sub("ATTEMPT", TOKEN.sub("TOKEN", text))


def _headers(answer: Answer) -> dict[str, str]:
    skip = {"set-cookie", "x-request-id", "content-length"}
    return {k.lower(): v for k, v in answer.headers if k.lower() not in skip}


@pytest.fixture
def edge():
    return EdgeClient()


def test_the_second_visitor_is_answered_by_the_edge_as_django_answered_the_first(
    alice_charging, edge
):
    product = published(alice_charging)
    host = alice_charging.host
    for path in ("/", f"/p/{product.slug}/"):
        first = edge.get(host, path)
        assert first.status == "200 OK" and first.by == "django"
        with CaptureQueriesContext(connection) as queries:
            again = edge.get(host, path)
        assert again.by == "edge" and again.status == "200 OK"
        assert len(queries.captured_queries) == 0
        assert _plain(again.text) == _plain(first.text) and "$12.50" in again.text
        assert "hole" not in again.text and "{#" not in again.text  # no stray template text
        # Every header the middleware chain made (CSP, frame options, Vary…), and a
        # body length of its own.
        assert _headers(again) == _headers(first)
        assert "Content-Security-Policy" in dict(again.headers)
        assert int(again.header("Content-Length")) == len(again.body)
        assert again.header("X-Request-ID") and again.header("X-Request-ID") != first.header(
            "X-Request-ID"
        )
        # Cookies as Django sets them: none on the storefront (no form); on the product
        # page the CSRF cookie as CsrfViewMiddleware sets it (attributes and all), a new
        # secret, a new token and a new checkout attempt.
        first_cookie, cookie = first.cookies(), again.cookies()
        assert len(cookie) == len(first_cookie) == (0 if path == "/" else 1)
        if path != "/":
            assert cookie[0].startswith(f" {settings.CSRF_COOKIE_NAME}=")
            assert _without_values(cookie[0]) == _without_values(first_cookie[0])
            assert TOKEN.search(again.text).group(1) != TOKEN.search(first.text).group(1)
            assert ATTEMPT.search(again.text).group(1) != ATTEMPT.search(first.text).group(1)


def _without_values(cookie: str) -> str:
    """A Set-Cookie without its value and expiry date (both differ per response)."""
    return re.sub(r"expires=[^;]+;", "", re.sub(r"=\w+;", "=;", cookie, count=1))


def _cookie_secret(answer: Answer) -> str:
    return re.match(rf" {settings.CSRF_COOKIE_NAME}=(\w+);", answer.cookies()[0]).group(1)


def test_the_edges_token_gets_the_buy_form_past_djangos_csrf_check(alice_charging, edge):
    product = published(alice_charging)
    host, path = alice_charging.host, f"/p/{product.slug}/"
    edge.get(host, path)
    answer = edge.get(host, path)
    assert answer.by == "edge"
    token, secret = TOKEN.search(answer.text).group(1), _cookie_secret(answer)
    assert _unmask_cipher_token(token) == secret
    buyer = Client(HTTP_HOST=host, enforce_csrf_checks=True)
    buyer.cookies[settings.CSRF_COOKIE_NAME] = secret
    attempt = ATTEMPT.search(answer.text).group(1)
    bought = buyer.post(f"/buy/{product.slug}/", {"csrfmiddlewaretoken": token, "attempt": attempt})
    assert bought.status_code != 403
    # A forged token does not: the check is Django's, not ours.
    forged = buyer.post(f"/buy/{product.slug}/", {"csrfmiddlewaretoken": "x" * 64})
    assert forged.status_code == 403


def test_a_returning_visitor_keeps_their_csrf_secret(alice_charging, edge):
    product = published(alice_charging)
    host, path = alice_charging.host, f"/p/{product.slug}/"
    edge.get(host, path)
    secret = "a" * 32
    answer = edge.get(host, path, HTTP_COOKIE=f"{settings.CSRF_COOKIE_NAME}={secret}")
    assert answer.by == "edge"
    assert _cookie_secret(answer) == secret  # renewed, as Django renews it
    assert _unmask_cipher_token(TOKEN.search(answer.text).group(1)) == secret
    # A cookie from before Django 4.0 (the masked token) is read as Django reads it.
    masked = TOKEN.search(answer.text).group(1)
    legacy = edge.get(host, path, HTTP_COOKIE=f"{settings.CSRF_COOKIE_NAME}={masked}")
    assert _cookie_secret(legacy) == secret
    # Junk gets a new secret, never the junk back.
    junk = edge.get(host, path, HTTP_COOKIE=f"{settings.CSRF_COOKIE_NAME}=<script>")
    assert junk.by == "edge" and re.fullmatch(r"[A-Za-z0-9]{32}", _cookie_secret(junk))


def test_a_change_is_never_answered_stale(alice_charging, edge):
    product = published(alice_charging)
    host = alice_charging.host
    for path in ("/", f"/p/{product.slug}/"):
        edge.get(host, path)
        assert edge.get(host, path).by == "edge"
    update_price(alice_charging, product, "19.00")
    for path in ("/", f"/p/{product.slug}/"):
        answer = edge.get(host, path)
        assert answer.by == "django" and "$19.00" in answer.text and "$12.50" not in answer.text
        assert edge.get(host, path).by == "edge"  # and stored again
    store_suspend(store=alice_charging, reason="Checking documents")
    answer = edge.get(host, "/")
    assert answer.by == "django" and "$19.00" not in answer.text


def test_a_removed_custom_domain_stops_answering_at_once(alice_charging, edge):
    product = published(alice_charging)
    domain = domain_add(store=alice_charging, hostname="ferns.example.org")
    Domain.objects.filter(pk=domain.pk).update(verified_at=timezone.now())
    hosts_forget([domain.domain])
    path = f"/p/{product.slug}/"
    edge.get("ferns.example.org", path)
    answer = edge.get("ferns.example.org", path)
    assert answer.by == "edge" and "$12.50" in answer.text
    # Cookies on a custom domain are host-only, as tenants.middleware makes them.
    assert "Domain=" not in answer.cookies()[0]
    domain_remove(store=alice_charging, domain_id=domain.pk)
    gone = edge.get("ferns.example.org", path)
    assert gone.by == "django" and "$12.50" not in gone.text


def test_mallorys_host_never_gets_alices_page(alice_charging, mallory_charging, edge):
    published(alice_charging, title="Alice's secret ferns")
    published(mallory_charging, title="Mallory's mosses")
    edge.get(alice_charging.host, "/")
    assert edge.get(alice_charging.host, "/").by == "edge"
    answer = edge.get(mallory_charging.host, "/")
    assert answer.by == "django" and "secret" not in answer.text
    answer = edge.get(mallory_charging.host, "/")
    assert answer.by == "edge" and "Mallory&#x27;s mosses" in answer.text
    assert "secret" not in answer.text
    # A host Django would refuse is refused by Django, not answered from anyone's pages.
    assert edge.get("alice.localhost.evil.example", "/").by == "django"


def test_what_the_edge_leaves_to_django(alice_charging, alice, edge):
    product = published(alice_charging)
    host, path = alice_charging.host, f"/p/{product.slug}/"
    edge.get(host, path)
    assert edge.get(host, path).by == "edge"
    owner = Client(HTTP_HOST=host)
    owner.force_login(alice)
    session = owner.cookies[settings.SESSION_COOKIE_NAME].value
    live = edge.get(host, path, HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}={session}")
    assert live.by == "django" and "/dashboard/" in live.text
    assert "/dashboard/" not in edge.get(host, path).text  # nothing of hers was stored
    assert edge.get(host, path, HTTP_COOKIE="messages=x").by == "django"
    assert edge.get(host, f"{path}?code=SPRING").by == "django"
    assert edge.get(host, f"{path}?utm_source=x&code=SPRING").by == "django"
    assert edge.get(host, f"{path}?utm%5Fsource=x").by == "django"
    assert edge.request(host, path, method="HEAD").by == "django"
    assert edge.request(host, f"/buy/{product.slug}/", method="POST").by == "django"


def test_over_https_the_edge_keeps_hsts_and_http_gets_djangos_redirect(alice_charging, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    edge = EdgeClient()  # Django's security middleware reads its settings when it is built
    published(alice_charging)
    host = alice_charging.host
    edge.get(host, "/", HTTP_X_FORWARDED_PROTO="https")
    secure = edge.get(host, "/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.by == "edge" and secure.header("Strict-Transport-Security")
    edge.get(host, "/")
    plain = edge.get(host, "/")
    assert plain.by == "edge" and plain.header("Strict-Transport-Security") is None
    settings.SECURE_SSL_REDIRECT = True
    redirected = EdgeClient().get(host, "/")
    assert redirected.by == "django" and redirected.status.startswith("301")


def _day_hash(store) -> dict[bytes, bytes]:
    found = _redis().hgetall(day_key(store.schema_name, timezone.localdate()))
    return {k: v for k, v in found.items() if k != b"epoch"}


def test_edge_hits_count_views_exactly_as_django_counts_them(alice_charging, edge):
    product = published(alice_charging)
    host, path = alice_charging.host, f"/p/{product.slug}/"
    # Django's count (page cache hits inside Django, catalog.pageviews' pipeline)…
    browser = Client(HTTP_HOST=host, HTTP_USER_AGENT=BROWSER)
    for _ in range(2):
        browser.get(path)
    browser.get(path, HTTP_REFERER="https://news.example.com/item?id=1")
    browser.get(f"{path}?utm_source=Newsletter&utm_medium=email")
    through_django = _day_hash(alice_charging)
    _redis().delete(day_key(alice_charging.schema_name, timezone.localdate()))
    # …and the edge's (one of these three is Django's first answer, storing the page).
    for _ in range(2):
        edge.get(host, path)
    answer = edge.get(host, path, HTTP_REFERER="https://news.example.com/item?id=1")
    assert answer.by == "edge"
    # A shared link with tracking parameters is the same page, from the edge, counted.
    tracked = edge.get(host, f"{path}?utm_source=Newsletter&utm_medium=email")
    assert tracked.by == "edge" and _plain(tracked.text) == _plain(answer.text)
    assert _day_hash(alice_charging) == through_django
    assert through_django[f"p|{product.slug}".encode()] == b"4"
    assert through_django[f"u|{product.slug}|newsletter".encode()] == b"1"
    assert _redis().sismember(days_key(timezone.localdate()), alice_charging.schema_name)
    # Bots, prefetches and the storefront count nothing.
    before = _day_hash(alice_charging)
    assert edge.get(host, path, HTTP_USER_AGENT="Googlebot/2.1").by == "edge"
    assert edge.get(host, path, HTTP_SEC_PURPOSE="prefetch").by == "edge"
    edge.get(host, "/")
    edge.get(host, "/")
    assert _day_hash(alice_charging) == before


def test_edge_answers_are_in_the_request_metrics(alice_charging, edge):
    from config import metrics

    if not metrics.ENABLED:
        pytest.skip("metrics are off")
    published(alice_charging)
    host = alice_charging.host
    counter = metrics.HTTP_REQUESTS.labels("storefront", "GET", "200")
    edge.get(host, "/")
    before = counter._value.get()
    assert edge.get(host, "/").by == "edge"
    assert counter._value.get() == before + 1


def test_without_redis_django_answers(alice_charging, edge, monkeypatch):
    published(alice_charging)
    host = alice_charging.host
    edge.get(host, "/")

    def away(*args, **kwargs):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(edge.app, "_read", away)
    answer = edge.get(host, "/")
    assert answer.by == "django" and answer.status == "200 OK" and "$12.50" in answer.text


def test_a_page_that_set_another_cookie_is_not_stored(alice_charging, edge, monkeypatch):
    published(alice_charging)
    host = alice_charging.host
    stored = []
    original = edge.app._store

    def store(key, page, status, headers):
        stored.append(key)
        return original(key, page, status, [*headers, ("Set-Cookie", " sessionid=abc; Path=/")])

    monkeypatch.setattr(edge.app, "_store", store)
    edge.get(host, "/")
    assert stored  # Django's answer was offered…
    assert edge.get(host, "/").by == "django"  # …and refused: it carried a session cookie


def test_the_edge_is_what_gunicorn_serves():
    import config.wsgi

    assert edge_module.enabled()
    assert isinstance(config.wsgi.application, Edge)
