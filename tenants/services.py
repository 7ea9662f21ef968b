"""Writes on stores and domains. Apps above call these; views never write directly."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .models import Domain, Store, new_schema_name
from .routing import hosts_forget
from .validators import store_name_clean, validate_subdomain

logger = logging.getLogger(__name__)


def subdomain_available(subdomain: str) -> bool:
    return not Store.objects.filter(subdomain__iexact=subdomain).exists()


def store_create(*, owner: Any, name: str, subdomain: str, cell: str | None = None) -> Store:
    """Create a store: its row, its schema (built from the template) and its domain, in the
    cell with the most room (tenants.cells.cell_choose) unless `cell` names one.

    In the default cell (the control database) all three happen in one transaction
    (PostgreSQL DDL is transactional), so a failure anywhere leaves no schema without a
    store, no store without a schema, and no domain pointing nowhere. In another cell they
    span two databases: `store_provision` says how that stays exactly-once.
    """
    from . import cells

    subdomain = validate_subdomain(subdomain)
    name = store_name_clean(name)
    if not subdomain_available(subdomain):
        raise ValidationError({"subdomain": f"“{subdomain}” is already taken."})
    cell = cell or cells.cell_choose()
    cells.alias(cell)  # a cell that is not configured fails here, before any write
    elsewhere = cells.alias(cell) != cells.alias(cells.DEFAULT)
    connection.set_schema_to_public()
    try:
        with transaction.atomic():
            store = Store(owner=owner, name=name, subdomain=subdomain, cell=cell)
            store.schema_name = new_schema_name()
            if elsewhere:
                store.status = Store.Status.PROVISIONING  # store_provision builds it
            store.save(verbosity=0)
            Domain.objects.create(
                domain=f"{subdomain}.{settings.PLATFORM_DOMAIN}", tenant=store, is_primary=True
            )
    except IntegrityError as exc:
        # Two sign-ups racing for one name: the unique constraints decide.
        raise ValidationError({"subdomain": f"“{subdomain}” is already taken."}) from exc
    if elsewhere:
        try:
            store = store_provision(store_id=store.pk)
        except Exception:
            # The row is kept, "provisioning": the reconciler finishes it (tenants.tasks).
            logger.exception("Store %s: schema not built in cell %s yet", subdomain, cell)
    return store


def _provision_crash_point(store: Store) -> None:
    """Tests replace it to crash between the schema's commit and the row's flip."""


def store_provision(*, store_id: int) -> Store:
    """Finish a store whose row is committed in state "provisioning": build its schema in
    its cell, then flip the row to active. Safe to run again at any point, from sign-up or
    the reconciler (`stores_provision_pending`):

    1. the row (control database) commits first, as "provisioning": the storefront shows
       "unavailable", nothing can sell;
    2. the schema is built in one cell transaction (all of it or none), under an advisory
       lock in the cell, skipped when a schema of that name already exists (built whole
       by an earlier run that crashed before step 3);
    3. the row flips to active.
    A crash after 1 leaves a provisioning row the reconciler finishes; after 2, a whole
    schema and a provisioning row, which the reconciler flips. Never two schemas, never a
    store without one once it is active.
    """
    from django.db import connections
    from django_tenants.utils import schema_exists

    from . import cells
    from .provisioning import schema_create

    store = Store.objects.get(pk=store_id)
    if store.status != Store.Status.PROVISIONING:
        return store
    db = cells.alias(store.cell)
    with transaction.atomic(using=db):
        with connections[db].cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"provision:{store.schema_name}"]
            )
        if not schema_exists(store.schema_name, database=db):
            schema_create(store.schema_name, cell=store.cell)
    _provision_crash_point(store)
    with transaction.atomic():
        Store.objects.filter(pk=store.pk, status=Store.Status.PROVISIONING).update(
            status=Store.Status.ACTIVE
        )
    hosts_forget([store.host])
    store.refresh_from_db()
    return store


def stores_provision_pending(*, older_than_seconds: int = 60) -> list[str]:
    """The reconciler: finish every store left "provisioning" (a crash mid-sign-up)."""
    from datetime import timedelta

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    finished = []
    pending = Store.objects.filter(status=Store.Status.PROVISIONING, created_at__lte=cutoff)
    for store_id, subdomain in pending.values_list("pk", "subdomain"):
        try:
            store_provision(store_id=store_id)
            finished.append(subdomain)
        except Exception:
            logger.exception("Store %s: provisioning not finished", subdomain)
    return finished


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


def store_set_fee(*, store: Store, fee_percent: Decimal | None, fee_fixed: int | None) -> Store:
    with transaction.atomic():
        locked = Store.objects.select_for_update().get(pk=store.pk)
        locked.fee_percent = fee_percent
        locked.fee_fixed = fee_fixed
        locked.full_clean(exclude=["owner", "schema_name"])
        locked.save(update_fields=["fee_percent", "fee_fixed"])
    return locked


def store_update_settings(*, store: Store, **fields: Any) -> Store:
    allowed = {
        "name",
        "description",
        "support_email",
        "accent_color",
        "notify_on_sale",
        "logo",
        "tax_enabled",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"Not store settings: {sorted(unknown)}")
    if fields.get("logo") and not re.fullmatch(
        r"data:image/png;base64,[A-Za-z0-9+/=]+", fields["logo"]
    ):
        raise ValidationError({"logo": "The logo must be a PNG the platform re-encoded."})
    if "name" in fields:
        fields["name"] = store_name_clean(fields["name"])
    with transaction.atomic():
        locked = Store.objects.select_for_update().get(pk=store.pk)
        for key, value in fields.items():
            setattr(locked, key, value)
        locked.full_clean(exclude=["owner", "schema_name", "subdomain"])
        locked.save(update_fields=list(fields))
    return locked


# --- Custom domains -------------------------------------------------------------------------

_HOSTNAME = re.compile(r"^(?=.{4,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


def domain_normalise(raw: str) -> str:
    host = (raw or "").strip().lower().rstrip(".")
    host = re.sub(r"^https?://", "", host).split("/")[0]
    if not _HOSTNAME.match(host) or host.replace(".", "").isdigit():
        raise ValidationError("Enter a domain name like shop.example.com (no http://, no path).")
    platform = settings.PLATFORM_DOMAIN
    if host == platform or host.endswith(f".{platform}"):
        raise ValidationError(
            f"Domains under {platform} belong to the platform; use your own domain."
        )
    if "." not in host or host.rsplit(".", 1)[-1].isdigit():
        raise ValidationError("Enter a full domain name like shop.example.com.")
    return host


# The TXT record that proves a store owns a custom domain: `_product-purchase.<domain>`
# saying the claim's token.
TXT_LABEL = "_product-purchase"


def domain_txt_name(domain: Domain) -> str:
    return f"{TXT_LABEL}.{domain.domain}"


def domain_add(*, store: Store, hostname: str) -> Domain:
    """Claim a custom domain for `store`. Another store's pending claim on the same name
    neither blocks this one nor shows: only a verified domain is taken."""
    host = domain_normalise(hostname)
    if (
        Domain.objects.filter(domain=host)
        .exclude(is_custom=True, verified_at__isnull=True)
        .exists()
    ):
        raise ValidationError(f"{host} is already connected to a store.")
    if Domain.objects.filter(tenant=store, domain=host).exists():
        raise ValidationError(f"You have already added {host}; add its DNS record, then verify.")
    if Domain.objects.filter(tenant=store, is_custom=True).count() >= 5:
        raise ValidationError("A store can have at most 5 custom domains.")
    try:
        with transaction.atomic():
            return Domain.objects.create(
                domain=host,
                tenant=store,
                is_primary=False,
                is_custom=True,
                verification_token=f"pp-verify-{secrets.token_urlsafe(24)}",
            )
    except IntegrityError as exc:
        raise ValidationError(f"{host} is already connected to a store.") from exc


TxtLookup = Callable[[str], list[str]]


def dns_txt(name: str) -> list[str]:
    """The TXT strings published at `name` (none when it has none or DNS fails)."""
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=5.0)
    except dns.exception.DNSException:
        return []
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]


def domain_verify(*, domain: Domain, txt_lookup: TxtLookup | None = None) -> bool:
    """Verified once `_product-purchase.<domain>` has a TXT record with this claim's token.

    Whoever verifies first holds the name: a later claim by another store raises
    ValidationError (the name then routes to the first store, as anyone can see).
    """
    if domain.verified_at:
        return True
    if not domain.verification_token:
        return False
    try:
        records = (txt_lookup or dns_txt)(domain_txt_name(domain))
    except (OSError, UnicodeError):
        records = []
    if domain.verification_token not in [r.strip() for r in records]:
        return False
    try:
        with transaction.atomic():
            updated = Domain.objects.filter(pk=domain.pk, verified_at__isnull=True).update(
                verified_at=timezone.now()
            )
    except IntegrityError as exc:
        raise ValidationError(f"{domain.domain} is already connected to another store.") from exc
    domain.refresh_from_db()
    # .update() sends no signal: forget what routing may have cached for this host.
    hosts_forget([domain.domain])
    return bool(updated or domain.verified_at)


def domain_remove(*, store: Store, domain_id: int) -> None:
    Domain.objects.filter(tenant=store, pk=domain_id, is_custom=True).delete()
