"""The one place that turns a host into an origin (`scheme://host[:port]`).

`PLATFORM_SCHEME` and `PLATFORM_PORT` decide every absolute URL the platform prints or
redirects to: the main site, a store's subdomain, the sign-in hand-off, the logout form,
CSRF's trusted origins. `make run` sets `PLATFORM_PORT` from `DEVSTACK_WEB_PORT`.

No model or app import here: `config/settings.py` uses `origin()` too.
"""

from __future__ import annotations


def origin(host: str, *, scheme: str, port: str) -> str:
    """`origin("alice.localhost", scheme="http", port="8000")` → "http://alice.localhost:8000"."""
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def platform_origin(host: str | None = None) -> str:
    """The origin of `host` (default: the main domain) under the current settings."""
    from django.conf import settings

    return origin(
        host or settings.PLATFORM_DOMAIN,
        scheme=settings.PLATFORM_SCHEME,
        port=settings.PLATFORM_PORT,
    )
