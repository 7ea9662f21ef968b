from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django_tenants.models import DomainMixin, TenantMixin

from .origins import platform_origin
from .validators import FEE_PERCENT_MAX


class StoreQuerySet(models.QuerySet):
    def stores(self) -> StoreQuerySet:
        """Every store, without the public tenant row."""
        return self.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME)

    def active(self) -> StoreQuerySet:
        return self.filter(status=Store.Status.ACTIVE)


def new_schema_name() -> str:
    # Internal and never derived from what a seller typed: no quoting games, no renames
    # when a store changes its subdomain, no collisions with PostgreSQL's own schemas.
    return f"st_{secrets.token_hex(8)}"


class Store(TenantMixin):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        # Its row is written, its schema (in another cell) not yet: tenants.services.
        PROVISIONING = "provisioning", "Being created"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="stores",
        null=True,
        blank=True,  # the public tenant has no owner
    )
    name = models.CharField(max_length=80)
    subdomain = models.CharField(max_length=40, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # The store database ("cell") holding its schema; "default" is the control database
    # itself (tenants.cells).
    cell = models.CharField(max_length=40, default="default", db_index=True)
    # While a move to another cell is in its read-only window (tenants.moves): that cell's
    # name. Buyers still read and download; writes wait until the move ends.
    moving_to = models.CharField(max_length=40, blank=True)
    suspended_reason = models.CharField(max_length=300, blank=True)
    # Set by payments (through tenants.services) when the connected account can charge.
    can_take_charges = models.BooleanField(default=False)
    charges_blocked_reason = models.CharField(max_length=300, blank=True)
    # Fee override set by a platform admin; null means the platform default.
    fee_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        # The same bounds as validators.fee_validate, which every writer calls first.
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(FEE_PERCENT_MAX)],
    )
    fee_fixed = models.PositiveIntegerField(null=True, blank=True)
    # Storefront settings.
    description = models.TextField(blank=True, max_length=2000)
    support_email = models.EmailField(blank=True)
    accent_color = models.CharField(max_length=7, default="#4f46e5")
    # A small PNG as a data: URI (re-encoded, at most 320x96 px): it travels with the
    # store row the routing cache already holds, so showing it costs no request or query.
    logo = models.TextField(blank=True, max_length=40_000)
    notify_on_sale = models.BooleanField(default=True)
    # Stripe Tax on the store's own Stripe account (its registrations): checkout adds
    # sales tax / VAT on top of the price. Off until the seller turns it on.
    tax_enabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = True

    objects = StoreQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("subdomain"), name="store_subdomain_ci_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.subdomain})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def is_public(self) -> bool:
        return self.schema_name == settings.PUBLIC_SCHEMA_NAME

    def save(self, *args, **kwargs):
        if self.cell and self.cell != "default":
            # TenantMixin.save looks for the schema in the control database only (and would
            # build it there): a store in another cell gets its schema from
            # tenants.services.store_provision, in its cell.
            self.auto_create_schema = False
        super().save(*args, **kwargs)

    def create_schema(self, check_if_exists=False, sync_schema=True, verbosity=1):
        # Replaying the recorded template DDL keeps sign-up fast; see provisioning.
        from .provisioning import schema_create

        schema_create(self.schema_name, verbosity=verbosity, cell=self.cell)

    def _drop_schema(self, force_drop=False):
        from .provisioning import schema_drop

        if self.auto_drop_schema or force_drop:
            schema_drop(self.schema_name, cell=self.cell)

    @property
    def host(self) -> str:
        return f"{self.subdomain}.{settings.PLATFORM_DOMAIN}"

    @property
    def url(self) -> str:
        return platform_origin(self.host)


class Domain(DomainMixin):
    """A host name that routes to a store: its subdomain, and custom domains.

    A custom domain is a claim until its store proves it owns the name (a DNS TXT record
    with the claim's token, tenants.services.domain_verify). Several stores may claim one
    name — a claim blocks nobody and is seen by nobody else — and the first to verify it
    holds it: among verified and platform rows a host is unique.
    """

    # Not unique by itself (DomainMixin's is): pending claims may share a name.
    domain = models.CharField(max_length=253, db_index=True)
    is_custom = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    # What the TXT record `_product-purchase.<domain>` must say; one per claim.
    verification_token = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["domain"],
                condition=models.Q(is_custom=False) | models.Q(verified_at__isnull=False),
                name="domain_routes_to_one_store",
            ),
            models.UniqueConstraint(fields=["domain", "tenant"], name="domain_one_claim_per_store"),
        ]

    def __str__(self) -> str:
        return self.domain


class SchemaBlueprint(models.Model):
    """The DDL that builds a store schema, recorded from migrating the template schema.

    Replaying it is constant-time per store, where cloning with catalog queries slows
    down as the database holds more schemas. `migrate_platform` records a new one.
    """

    statements = models.JSONField()
    # The migrations a schema built from it has (tenants.schema_state.fingerprint): the
    # bulk deploy finds the blueprint a store was built from by it.
    fingerprint = models.CharField(max_length=32, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        get_latest_by = "pk"


class CellOutbox(models.Model):
    """A control-database write committed in a cell with the store change it belongs to.

    In each cell's public schema (tenants.cells.CellRouter); applied to the control
    database and deleted by tenants.cells.outbox_apply. Unused in the default cell.
    """

    kind = models.CharField(max_length=40)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
