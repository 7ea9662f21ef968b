import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0008_product_pay_what_you_want"),
    ]

    operations = [
        migrations.AddField(
            model_name="product",
            name="preview_pages",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.PositiveSmallIntegerField(), blank=True, default=list, size=None
            ),
        ),
        migrations.AddField(
            model_name="product",
            name="preview",
            field=models.FileField(blank=True, db_index=True, max_length=300, upload_to=""),
        ),
        migrations.AddField(
            model_name="product",
            name="preview_state",
            field=models.CharField(
                choices=[
                    ("none", "None"),
                    ("pending", "Being built"),
                    ("ready", "Ready"),
                    ("failed", "Failed"),
                ],
                default="none",
                max_length=16,
            ),
        ),
    ]
