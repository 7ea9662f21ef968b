"""Existing grants and stamped copies point at their product's first file (made by
catalog 0006) and its current version: what their download served until now.

Runs in each store schema (migrate_schemas); the template schema has no rows.
"""

from __future__ import annotations

from django.db import migrations


def forwards(apps, schema_editor):
    FileSlot = apps.get_model("catalog", "FileSlot")
    DownloadGrant = apps.get_model("payments", "DownloadGrant")
    StampedCopy = apps.get_model("payments", "StampedCopy")
    ProductFile = apps.get_model("catalog", "ProductFile")
    slots = {
        s.product_id: s
        for s in FileSlot.objects.filter(position=0).order_by("product_id", "-id").iterator()
    }
    for product_id, slot in slots.items():
        DownloadGrant.objects.filter(purchase__product_id=product_id, slot__isnull=True).update(
            slot=slot, version_id=slot.current_id
        )
    for copy in StampedCopy.objects.filter(grant__isnull=True).select_related("purchase"):
        grant = DownloadGrant.objects.filter(purchase_id=copy.purchase_id).order_by("id").first()
        if grant is None:
            continue
        made_from = None
        if copy.source_sha256 and grant.slot_id:
            made_from = (
                ProductFile.objects.filter(slot_id=grant.slot_id, sha256=copy.source_sha256)
                .order_by("-created_at")
                .first()
            )
        copy.grant = grant
        copy.version_id = made_from.pk if made_from else grant.version_id
        copy.save(update_fields=["grant", "version"])


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_file_slots_data"),
        ("payments", "0005_grants_per_file"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
