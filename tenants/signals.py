from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django_tenants.signals import schema_migrated

from . import cells
from .models import Domain, Store
from .pagecache import store_pages_forget
from .routing import hosts_forget
from .schema_state import schema_mark


@receiver([post_save, post_delete], sender=Store)
def store_changed(sender, instance: Store, **kwargs) -> None:
    hosts = list(Domain.objects.filter(tenant_id=instance.pk).values_list("domain", flat=True))
    hosts.append(instance.host)
    hosts_forget(hosts)
    if instance.schema_name:
        store_pages_forget(instance.schema_name)  # its name, logo, status… are on every page


@receiver([post_save, post_delete], sender=Domain)
def domain_changed(sender, instance: Domain, **kwargs) -> None:
    hosts_forget([instance.domain])
    schema = Store.objects.filter(pk=instance.tenant_id).values_list("schema_name", flat=True)
    for name in schema:
        store_pages_forget(name)


@receiver(schema_migrated)
def schema_migrations_changed(sender, schema_name: str, **kwargs) -> None:
    # Every django-tenants run over a store schema (any executor, forwards or backwards)
    # rewrites its migrations marker from its rows: deploys read markers, not schemas.
    if schema_name != settings.PUBLIC_SCHEMA_NAME:
        # In the store's cell (a migration run names no database: its row does).
        schema_mark(schema_name, using=cells.alias(cells.schema_cell(schema_name)))
