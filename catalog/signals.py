from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tenants.pagecache import store_pages_forget

from .models import Product


@receiver([post_save, post_delete], sender=Product)
def product_changed(sender, instance: Product, **kwargs) -> None:
    # Title, price, status, cover…: the storefront and the product's page show them.
    if connection.schema_name != settings.PUBLIC_SCHEMA_NAME:
        store_pages_forget(connection.schema_name)
