"""The edge: anonymous visitors of a cached store page are answered before Django.

catalog.page_cache keeps a store's rendered storefront and product pages, with holes where
they differ per visitor (the Buy form's CSRF token, the checkout attempt ids), and serves
them from Redis — but only after the whole middleware chain and URL routing have run,
which cost a cached page as much as a one-query page. This WSGI wrapper answers the same
pages in front of Django:

- **What it stores.** When Django has just answered an anonymous GET with a page the page
  cache holds (the response carries `page_edge`), the wrapper stores, in one Redis hash
  per (deploy, scheme, Host, path): the page with its holes, the final status and headers
  as the whole middleware chain made them (CSP, HSTS over HTTPS, Vary…, not cookies,
  lengths or request ids), the store's page-cache version key and the version the page was
  rendered under, and the product whose views it counts. A response that set any cookie
  but the CSRF cookie is not stored.
- **What it answers.** A GET with no query string (or tracking parameters only: utm_source…,
  as catalog.page_cache) and no session or messages cookie, over
  HTTPS when SECURE_SSL_REDIRECT wants it: one Lua script reads the hash, compares the
  version with the store's current one (tenants.pagecache: any change to the store, a
  domain, a product, a price or a cover replaces it) and, for a product page a person is
  looking at, counts the view as catalog.pageviews does — all in one round trip. The page's
  holes are filled for this visitor exactly as Django would: the CSRF secret of their
  cookie (or a new one) masked into the form, a new cookie set, fresh attempt ids.
- **Everything else** goes to Django untouched: a miss, an old version, a session, a query
  string, another method, Redis down. A suspended or moving store, a removed domain, a new
  price: each changes the store's version, so the next request is a miss and Django
  answers (and the page it renders is stored again).

Keys name the Host exactly as the client sent it (Django validated that Host when it
answered the first time), so one store's pages can never answer for another's host.
Metrics and X-Request-ID are kept as config.observability does for Django's answers.
Off without Redis (the page cache then lives in each process) or with DJANGO_PAGE_EDGE=off.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import HttpResponse, QueryDict
from django.http.cookie import parse_cookie
from django.middleware.csrf import (
    CSRF_ALLOWED_CHARS,
    CSRF_SECRET_LENGTH,
    InvalidTokenFormat,
    _check_token_format,
    _unmask_cipher_token,
)
from django.utils import timezone

from catalog.page_cache import BUILD, tracking_only
from catalog.pageviews import (
    COUNT_VIEW_LUA,
    day_key_prefix,
    days_key,
    person_looking,
    referrer_site,
    utm_source,
)
from catalog.pageviews import TTL as VIEWS_TTL
from config import metrics
from config.logs import request_id_from
from tenants.middleware import host_only_cookies, raw_host
from tenants.pagecache import TTL, version_in_redis

logger = logging.getLogger(__name__)

_READ_LUA = (
    COUNT_VIEW_LUA
    + """
local e = redis.call('HMGET', KEYS[1], 'vkey', 'vval', 'body', 'meta', 'views', 'schema', 'counts')
if not e[1] or redis.call('GET', e[1]) ~= e[2] then return false end
if ARGV[1] == '1' and e[7] then
  count_view(e[5] .. ARGV[2], KEYS[2], e[6], e[7], ARGV[4], ARGV[6], ARGV[3], tonumber(ARGV[5]))
end
return {e[3], e[4]}
"""
)
# Headers of the stored answer that belong to one response only.
_NOT_STORED = {"set-cookie", "content-length", "x-request-id"}
_LIVE_COOKIES = (settings.SESSION_COOKIE_NAME, "messages")
_OBSERVED = "config.observability.RequestObservabilityMiddleware" in settings.MIDDLEWARE


def enabled() -> bool:
    pages = settings.CACHES["pages"]["BACKEND"]
    return (
        settings.PAGE_EDGE
        and bool(settings.REDIS_URL)
        and pages.startswith("django_redis.")
        and not settings.CSRF_USE_SESSIONS
        and not settings.PREPEND_WWW
    )


def _secure(environ: dict) -> bool:
    """request.is_secure(), from the environ."""
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = environ.get(header)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return environ.get("wsgi.url_scheme") == "https"


def _key(environ: dict, host: str, secure: bool) -> str:
    from django.core.cache import caches

    path = environ.get("PATH_INFO", "")
    return caches["pages"].make_key(f"edge:{BUILD}:{int(secure)}:{host}:{path}")


_CHARS = CSRF_ALLOWED_CHARS.encode()
_INDEX = {c: i for i, c in enumerate(CSRF_ALLOWED_CHARS)}
_UNBIASED = 256 - 256 % len(_CHARS)  # bytes below this map evenly onto the 62 characters


def _random_string() -> str:
    """What django.middleware.csrf._get_new_csrf_string makes (32 of its characters, from
    the OS's random source), without 32 calls to secrets.choice: a tenth of the CPU."""
    out = bytearray()
    while len(out) < CSRF_SECRET_LENGTH:
        out += bytes(_CHARS[b % len(_CHARS)] for b in os.urandom(40) if b < _UNBIASED)
    return out[:CSRF_SECRET_LENGTH].decode()


def _mask(secret: str) -> str:
    """django.middleware.csrf._mask_cipher_secret with the faster random string: a new
    mask, and the secret shifted by it, character by character (tests check that Django
    unmasks it to the secret and accepts it)."""
    mask = _random_string()
    size = len(CSRF_ALLOWED_CHARS)
    return mask + "".join(
        CSRF_ALLOWED_CHARS[(_INDEX[x] + _INDEX[y]) % size]
        for x, y in zip(secret, mask, strict=True)
    )


def _csrf_secret(cookies: dict[str, str]) -> str:
    """The visitor's CSRF secret, as CsrfViewMiddleware reads it, or a new one."""
    value = cookies.get(settings.CSRF_COOKIE_NAME)
    if value is not None:
        try:
            _check_token_format(value)
        except InvalidTokenFormat:
            return _random_string()
        # Django before 4.0 kept the masked token in the cookie.
        return _unmask_cipher_token(value) if len(value) == 2 * CSRF_SECRET_LENGTH else value
    return _random_string()


def _csrf_cookie(secret: str, http_host: str) -> str:
    """The Set-Cookie CsrfViewMiddleware sends (renewed on every page that shows a token),
    host-only on a custom domain as tenants.middleware makes it."""
    carrier = HttpResponse()
    carrier.set_cookie(
        settings.CSRF_COOKIE_NAME,
        secret,
        max_age=settings.CSRF_COOKIE_AGE,
        domain=settings.CSRF_COOKIE_DOMAIN,
        path=settings.CSRF_COOKIE_PATH,
        secure=settings.CSRF_COOKIE_SECURE,
        httponly=settings.CSRF_COOKIE_HTTPONLY,
        samesite=settings.CSRF_COOKIE_SAMESITE,
    )
    morsel = carrier.cookies[settings.CSRF_COOKIE_NAME]
    if host_only_cookies(http_host):
        morsel["domain"] = ""
    return morsel.output(header="")


def _fill(body: bytes, meta: dict, token: str) -> bytes:
    body = body.replace(meta["csrf"].encode(), token.encode())
    hole = meta["attempt"].encode()
    if hole in body:
        parts = body.split(hole)
        body = parts[0] + b"".join(uuid.uuid4().hex.encode() + part for part in parts[1:])
    return body


class Edge:
    """WSGI middleware around Django's application (config.wsgi)."""

    def __init__(self, application: Callable) -> None:
        self.application = application
        self._script: Any = None

    def _client(self):
        from django_redis import get_redis_connection

        return get_redis_connection("pages")

    def _read(self, keys: list[str], args: list) -> list | None:
        script = self._script
        if script is None:
            script = self._script = self._client().register_script(_READ_LUA)
        return script(keys=keys, args=args)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        query = environ.get("QUERY_STRING", "")
        if environ.get("REQUEST_METHOD") != "GET" or not tracking_only(query):
            return self.application(environ, start_response)
        host = raw_host(environ)
        cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
        if not host or any(name in cookies for name in _LIVE_COOKIES):
            return self.application(environ, start_response)
        secure = _secure(environ)
        if settings.SECURE_SSL_REDIRECT and not secure:
            return self.application(environ, start_response)  # Django redirects it
        key = _key(environ, host, secure)
        answer = self._answer(environ, start_response, key, host, cookies, started)
        if answer is not None:
            return answer
        return self._django(environ, start_response, key)

    def _answer(self, environ, start_response, key, host, cookies, started) -> list | None:
        looking = person_looking(
            environ.get("HTTP_USER_AGENT", ""),
            environ.get("HTTP_SEC_PURPOSE") or environ.get("HTTP_PURPOSE") or "",
            environ.get("HTTP_X_MOZ", ""),
        )
        day = timezone.localdate()
        site = referrer_site(environ.get("HTTP_REFERER", ""), host) if looking else ""
        query = environ.get("QUERY_STRING", "")
        utm = ""
        if looking and query:  # read as request.GET reads it
            utm = utm_source(QueryDict(query.encode("iso-8859-1")).get("utm_source", ""))
        try:
            found = self._read(
                [key, days_key(day)],
                [
                    "1" if looking else "0",
                    day.isoformat(),
                    secrets.token_hex(8),
                    site,
                    VIEWS_TTL,
                    utm,
                ],
            )
        except Exception:  # Redis away: Django answers (its caches ignore the outage)
            logger.warning("The page edge could not read Redis", exc_info=True)
            return None
        if not found:
            return None
        body, raw_meta = found
        meta = json.loads(raw_meta)
        headers = [(name, value) for name, value in meta["headers"]]
        if meta["csrf"].encode() in body:  # a page with a form: a token, and its cookie
            secret = _csrf_secret(cookies)
            body = _fill(body, meta, _mask(secret))
            headers.append(("Set-Cookie", _csrf_cookie(secret, environ.get("HTTP_HOST", ""))))
        else:
            body = _fill(body, meta, "")
        headers.append(("Content-Length", str(len(body))))
        if _OBSERVED:
            headers.append(("X-Request-ID", request_id_from(environ.get("HTTP_X_REQUEST_ID"))))
        start_response(meta["status"], headers)
        if _OBSERVED:
            metrics.request_observed(
                view=meta["view"], method="GET", status=200, seconds=time.perf_counter() - started
            )
        return [body]

    def _django(self, environ: dict, start_response: Callable, key: str) -> Iterable[bytes]:
        answered: dict = {}

        def start(status, headers, exc_info=None):
            answered["status"], answered["headers"] = status, headers
            return start_response(status, headers, exc_info)

        response = self.application(environ, start)
        edge = getattr(response, "page_edge", None)
        if edge is not None and answered.get("status", "").startswith("200 "):
            self._store(key, edge, answered["status"], answered["headers"])
        return response

    def _store(self, key: str, edge: dict, status: str, headers: list) -> None:
        csrf_cookie = f" {settings.CSRF_COOKIE_NAME}="
        cookies = [v for name, v in headers if name.lower() == "set-cookie"]
        if any(not value.startswith(csrf_cookie) for value in cookies):
            return  # a cookie of this visitor's own (a session…): not a page for everyone
        page = edge["page"]
        version_key, version = version_in_redis(edge["schema"], edge["version"])
        meta = {
            "status": status,
            "headers": [[n, v] for n, v in headers if n.lower() not in _NOT_STORED],
            "csrf": page["csrf"],
            "attempt": page["attempt"],
            "view": edge["view"],
        }
        fields = {
            "vkey": version_key,
            "vval": version,
            "body": page["body"].encode(),
            "meta": json.dumps(meta),
            "schema": edge["schema"],
        }
        if edge.get("counts"):
            fields["counts"] = edge["counts"]
            fields["views"] = day_key_prefix(edge["schema"])
        try:
            pipe = self._client().pipeline(transaction=True)
            pipe.delete(key)
            pipe.hset(key, mapping=fields)
            pipe.expire(key, TTL)
            pipe.execute()
        except Exception:
            logger.warning("The page edge could not store a page", exc_info=True)


def edge_wrap(application: Callable) -> Callable:
    return Edge(application) if enabled() else application
