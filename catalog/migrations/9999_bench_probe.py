from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_product_cover_is_custom")]
    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS bench_probe_1 ON catalog_product (title)",
            "DROP INDEX IF EXISTS bench_probe_1",
        )
    ]
