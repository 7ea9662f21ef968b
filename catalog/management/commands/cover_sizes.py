from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django_tenants.utils import get_tenant_model, schema_context

from catalog.models import Product
from catalog.services import product_cover_sizes_make


class Command(BaseCommand):
    help = (
        "Make the sized WebP copies of every ready cover that has none yet (covers made "
        "before the copies existed); the covers themselves stay. Safe to re-run."
    )

    def handle(self, *args, verbosity: int, **options):
        made = 0
        stores = get_tenant_model().objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME)
        for schema in stores.values_list("schema_name", flat=True):
            with schema_context(schema):
                missing = Product.objects.filter(
                    cover_state=Product.CoverState.READY, cover_widths=[]
                ).exclude(cover="")
                for product_id in missing.values_list("pk", flat=True):
                    product = product_cover_sizes_make(product_id=product_id)
                    made += bool(product is not None and product.cover_widths)
        if verbosity:
            self.stdout.write(f"Made sized copies for {made} cover(s).")
