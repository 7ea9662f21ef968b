from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from tenants.origins import platform_origin


def platform(request: HttpRequest) -> dict:
    store = getattr(request, "tenant", None)
    return {
        "platform_name": settings.PLATFORM_NAME,
        "platform_domain": settings.PLATFORM_DOMAIN,
        "platform_url": platform_origin(),
        "stripe_test_mode": settings.STRIPE_STANDIN
        or settings.STRIPE_SECRET_KEY.startswith("sk_test"),
        "store": store if store is not None and not store.is_public else None,
        "show_test_banner": store is not None and not store.is_public,
    }
