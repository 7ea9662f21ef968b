from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django_tenants.signals import schema_migrated

from .models import Domain, Store
from .routing import hosts_forget
from .schema_state import schema_mark


@receiver([post_save, post_delete], sender=Store)
def store_changed(sender, instance: Store, **kwargs) -> None:
    hosts = list(Domain.objects.filter(tenant_id=instance.pk).values_list("domain", flat=True))
    hosts.append(instance.host)
    hosts_forget(hosts)


@receiver([post_save, post_delete], sender=Domain)
def domain_changed(sender, instance: Domain, **kwargs) -> None:
    hosts_forget([instance.domain])


@receiver(schema_migrated)
def schema_migrations_changed(sender, schema_name: str, **kwargs) -> None:
    # Every django-tenants run over a store schema (any executor, forwards or backwards)
    # rewrites its migrations marker from its rows: deploys read markers, not schemas.
    if schema_name != settings.PUBLIC_SCHEMA_NAME:
        schema_mark(schema_name)
