from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def platform(request: HttpRequest) -> dict:
    port = f":{settings.PLATFORM_PORT}" if settings.PLATFORM_PORT else ""
    store = getattr(request, "tenant", None)
    return {
        "platform_name": settings.PLATFORM_NAME,
        "platform_domain": settings.PLATFORM_DOMAIN,
        "platform_url": f"{settings.PLATFORM_SCHEME}://{settings.PLATFORM_DOMAIN}{port}",
        "stripe_test_mode": settings.STRIPE_STANDIN
        or settings.STRIPE_SECRET_KEY.startswith("sk_test"),
        "store": store if store is not None and not store.is_public else None,
        "show_test_banner": store is not None and not store.is_public,
    }
