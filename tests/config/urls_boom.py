"""A store's URLs plus one view that fails holding what must never reach Sentry."""

from __future__ import annotations

import logging

from django.urls import path

from config.urls_tenants import urlpatterns as store_urlpatterns

logger = logging.getLogger("payments")

BUYER = "carol.buyer@example.com"
CARD = "4242 4242 4242 4242"


def boom(request, token: str):
    buyer_email = BUYER  # a local a frame snapshot would carry
    logger.info("Preparing the download for %s", buyer_email)  # becomes a breadcrumb
    raise RuntimeError(f"could not deliver /d/{token}/ to {buyer_email} (card {CARD})")


urlpatterns = [path("d/<str:token>/boom/", boom, name="boom"), *store_urlpatterns]
