"""Creating store schemas quickly.

A new store's schema is a copy of `TENANT_BASE_SCHEMA` ("store_template"), a schema that
`migrate_platform` keeps migrated. Copying tables is a few dozen DDL statements, whereas
running every tenant migration costs a full migration-graph load per store. The copy
includes the template's `django_migrations` rows, so the clone is recorded as migrated
without another `migrate_schemas --fake` pass.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django_tenants.clone import CLONE_SCHEMA_FUNCTION
from django_tenants.utils import schema_exists

logger = logging.getLogger(__name__)


def _clone_function_installed() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND p.proname = 'clone_schema'"
        )
        return cursor.fetchone() is not None


def clone_function_install() -> None:
    """(Re)install django-tenants' clone_schema() function; migrate_platform calls it."""
    db_user = settings.DATABASES["default"].get("USER") or "postgres"
    with connection.cursor() as cursor:
        cursor.execute(CLONE_SCHEMA_FUNCTION.format(db_user=db_user))


def schema_create(schema_name: str, *, verbosity: int = 0) -> None:
    """Create a store schema, by cloning the template when there is one."""
    connection.set_schema_to_public()
    template = settings.TENANT_BASE_SCHEMA
    if schema_exists(schema_name, case_sensitive=False):
        raise ValueError(f"Schema {schema_name} already exists.")
    if schema_exists(template):
        if not _clone_function_installed():
            clone_function_install()
        with connection.cursor() as cursor:
            cursor.execute("SELECT public.clone_schema(%s, %s, 'DATA')", [template, schema_name])
    else:
        # No template yet (a database migrated by plain `migrate`): run the migrations.
        logger.warning("Template schema %s missing: migrating %s from scratch", template, schema_name)
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{schema_name}"')
        call_command(
            "migrate_schemas",
            tenant=True,
            schema_name=schema_name,
            interactive=False,
            verbosity=verbosity,
        )
    connection.set_schema_to_public()


def template_refresh(*, verbosity: int = 0) -> None:
    """Rebuild the template schema from the current migrations."""
    template = settings.TENANT_BASE_SCHEMA
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{template}" CASCADE')
        cursor.execute(f'CREATE SCHEMA "{template}"')
    call_command(
        "migrate_schemas",
        tenant=True,
        schema_name=template,
        interactive=False,
        verbosity=verbosity,
    )
    clone_function_install()
    connection.set_schema_to_public()
