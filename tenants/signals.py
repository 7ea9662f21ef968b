from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Domain, Store
from .routing import hosts_forget


@receiver([post_save, post_delete], sender=Store)
def store_changed(sender, instance: Store, **kwargs) -> None:
    hosts = list(Domain.objects.filter(tenant_id=instance.pk).values_list("domain", flat=True))
    hosts.append(instance.host)
    hosts_forget(hosts)


@receiver([post_save, post_delete], sender=Domain)
def domain_changed(sender, instance: Domain, **kwargs) -> None:
    hosts_forget([instance.domain])
