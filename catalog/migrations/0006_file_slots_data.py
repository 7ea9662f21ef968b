"""Each existing product's single PDF becomes its first file (a FileSlot), with every
earlier version of it; the slot's current version is the product's current file.

Runs in each store schema (migrate_schemas); the template schema has no rows.
"""

from __future__ import annotations

from django.db import migrations


def _slot_name(file_name: str) -> str:
    stem = file_name[:-4] if file_name.lower().endswith(".pdf") else file_name
    return (stem.strip() or "PDF")[:80]


def forwards(apps, schema_editor):
    Product = apps.get_model("catalog", "Product")
    ProductFile = apps.get_model("catalog", "ProductFile")
    FileSlot = apps.get_model("catalog", "FileSlot")
    for product in Product.objects.exclude(file="").iterator():
        if FileSlot.objects.filter(product=product).exists():
            continue
        slot = FileSlot.objects.create(
            product=product,
            name=_slot_name(product.file_name),
            position=0,
            download_limit=product.download_limit,
        )
        ProductFile.objects.filter(product=product, slot__isnull=True).update(slot=slot)
        current = (
            ProductFile.objects.filter(product=product, file=product.file.name)
            .order_by("-created_at", "-id")
            .first()
        )
        if current is None:  # a file recorded before versions were: record it now
            current = ProductFile.objects.create(
                product=product,
                slot=slot,
                file=product.file.name,
                file_name=product.file_name,
                page_count=product.page_count,
                file_size=product.file_size,
                sha256=product.sha256,
            )
        slot.current = current
        slot.save(update_fields=["current"])


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_file_slots")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
