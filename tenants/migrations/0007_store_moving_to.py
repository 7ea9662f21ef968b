from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0006_store_cell"),
    ]

    operations = [
        migrations.AddField(
            model_name="store",
            name="moving_to",
            field=models.CharField(blank=True, max_length=40),
        ),
    ]
