"""Writes on stores and domains. Apps above call these; views never write directly."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from .models import Domain, Store, new_schema_name
from .validators import validate_subdomain


def subdomain_available(subdomain: str) -> bool:
    return not Store.objects.filter(subdomain__iexact=subdomain).exists()


def store_create(*, owner: Any, name: str, subdomain: str) -> Store:
    """Create a store: its row, its schema (cloned from the template) and its domain.

    All three happen in one transaction (PostgreSQL DDL is transactional), so a failure
    anywhere leaves no schema without a store, no store without a schema, and no domain
    pointing nowhere.
    """
    subdomain = validate_subdomain(subdomain)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give your store a name."})
    if not subdomain_available(subdomain):
        raise ValidationError({"subdomain": f"“{subdomain}” is already taken."})
    connection.set_schema_to_public()
    try:
        with transaction.atomic():
            store = Store(owner=owner, name=name[:80], subdomain=subdomain)
            store.schema_name = new_schema_name()
            store.save(verbosity=0)
            Domain.objects.create(
                domain=f"{subdomain}.{settings.PLATFORM_DOMAIN}", tenant=store, is_primary=True
            )
    except IntegrityError as exc:
        # Two sign-ups racing for one name: the unique constraints decide.
        raise ValidationError({"subdomain": f"“{subdomain}” is already taken."}) from exc
    return store


def store_suspend(*, store: Store, reason: str) -> Store:
    with transaction.atomic():
        locked = Store.objects.select_for_update().get(pk=store.pk)
        if locked.status == Store.Status.SUSPENDED:
            raise ValidationError("This store is already suspended.")
        locked.status = Store.Status.SUSPENDED
        locked.suspended_reason = reason.strip()[:300] or "Suspended by the platform."
        locked.save(update_fields=["status", "suspended_reason"])
    return locked


def store_restore(*, store: Store) -> Store:
    with transaction.atomic():
        locked = Store.objects.select_for_update().get(pk=store.pk)
        if locked.status == Store.Status.ACTIVE:
            raise ValidationError("This store is already active.")
        locked.status = Store.Status.ACTIVE
        locked.suspended_reason = ""
        locked.save(update_fields=["status", "suspended_reason"])
    return locked


def store_set_charges(*, store_id: int, can_take_charges: bool, reason: str = "") -> Store:
    """Called by payments when a connected account's charge capability changes."""
    with transaction.atomic():
        store = Store.objects.select_for_update().get(pk=store_id)
        if store.can_take_charges != can_take_charges or store.charges_blocked_reason != reason:
            store.can_take_charges = can_take_charges
            store.charges_blocked_reason = "" if can_take_charges else reason[:300]
            store.save(update_fields=["can_take_charges", "charges_blocked_reason"])
    return store


def store_set_fee(
    *, store: Store, fee_percent: Decimal | None, fee_fixed: int | None
) -> Store:
    with transaction.atomic():
        locked = Store.objects.select_for_update().get(pk=store.pk)
        locked.fee_percent = fee_percent
        locked.fee_fixed = fee_fixed
        locked.full_clean(exclude=["owner", "schema_name"])
        locked.save(update_fields=["fee_percent", "fee_fixed"])
    return locked


def store_update_settings(*, store: Store, **fields: Any) -> Store:
    allowed = {"name", "description", "support_email", "accent_color", "notify_on_sale"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"Not store settings: {sorted(unknown)}")
    with transaction.atomic():
        locked = Store.objects.select_for_update().get(pk=store.pk)
        for key, value in fields.items():
            setattr(locked, key, value)
        locked.full_clean(exclude=["owner", "schema_name", "subdomain"])
        locked.save(update_fields=list(fields))
    return locked
