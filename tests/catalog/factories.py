"""Rows without files, for tests about pages rather than uploads (use the services for those)."""

from __future__ import annotations

import uuid

import factory
from django.utils import timezone

from catalog.models import Product


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    title = factory.Sequence(lambda n: f"Guide number {n}")
    slug = factory.Sequence(lambda n: f"guide-number-{n}")
    description = "A *good* guide."
    price = 1250
    currency = "usd"
    status = Product.Status.PUBLISHED
    published_at = factory.LazyFunction(timezone.now)
    file = factory.LazyFunction(lambda: f"products/{uuid.uuid4()}.pdf")
    file_name = "guide.pdf"
    page_count = 12
    file_size = 123_456
    sha256 = "0" * 64
    cover = factory.LazyFunction(lambda: f"covers/{uuid.uuid4()}.png")
    cover_state = Product.CoverState.READY
