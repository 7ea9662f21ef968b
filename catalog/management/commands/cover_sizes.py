from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django_tenants.utils import get_tenant_model, schema_context

from catalog.models import Product
from catalog.tasks import cover_render


class Command(BaseCommand):
    help = (
        "Queue the cover task for every ready cover that has no sized WebP copies yet "
        "(covers made before the copies existed). Safe to re-run: covers with copies are skipped."
    )

    def handle(self, *args, verbosity: int, **options):
        queued = 0
        stores = get_tenant_model().objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME)
        for schema in stores.values_list("schema_name", flat=True):
            with schema_context(schema):
                missing = Product.objects.filter(
                    cover_state=Product.CoverState.READY, cover_widths=[]
                ).exclude(cover="")
                for product_id in missing.values_list("pk", flat=True):
                    cover_render.delay(product_id)  # runs in this schema (config.celery)
                    queued += 1
        if verbosity:
            self.stdout.write(f"Queued {queued} cover(s) for their sized copies.")
