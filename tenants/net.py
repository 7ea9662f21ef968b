from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The visitor's address. Behind N trusted proxies (DJANGO_TRUSTED_PROXY_COUNT; nginx in
    deploy/ is one), it is the N-th address from the right of X-Forwarded-For: entries to
    its left were written by the client and cannot be trusted."""
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if count > 0 and forwarded:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if len(hops) >= count:
            return hops[-count][:45]
    return request.META.get("REMOTE_ADDR")
