from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("payments_platform", "0006_ledger_discount"),
    ]

    operations = [
        migrations.CreateModel(
            name="DeferredDownload",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("schema_name", models.CharField(db_index=True, max_length=63)),
                ("grant_id", models.BigIntegerField()),
                ("at", models.DateTimeField()),
                ("ip", models.GenericIPAddressField(blank=True, null=True)),
                ("user_agent", models.CharField(blank=True, max_length=300)),
            ],
            options={"ordering": ["pk"]},
        ),
    ]
