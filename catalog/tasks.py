"""Catalog background work. Tasks take ids and call a service; the schema travels with the
message (config.celery), so a task queued inside a store runs in that store."""

from __future__ import annotations

from celery import shared_task

from .models import Product
from .services import product_cover_render, product_cover_sizes_make, product_preview_build


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def cover_render(product_id: int) -> str:
    """Draw page 1 of the product's PDF as its cover (unless the seller uploaded one), then
    make the cover's sized WebP copies. Idempotent: re-running redraws it."""
    product = product_cover_render(product_id=product_id)
    if product is not None and product.cover_state == Product.CoverState.READY:
        product = product_cover_sizes_make(product_id=product_id)
    return product.cover_state if product is not None else "gone"


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def preview_build(product_id: int) -> str:
    """Build the product's preview PDF (the chosen pages only) and its page images.
    Idempotent: re-running builds it again under a new name."""
    product = product_preview_build(product_id=product_id)
    return product.preview_state if product is not None else "gone"


@shared_task(acks_late=True)
def views_rollup() -> int:
    """Beat: product page views from the Redis counters into every store's tables.
    Idempotent (catalog.pageviews): a repeat, or two at once, write the same counts."""
    from .pageviews import views_rollup as rollup

    return rollup()
