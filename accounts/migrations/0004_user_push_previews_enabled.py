"""A user setting: whether push notifications may carry the message text."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_drop_unused_knox_table"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="push_previews_enabled",
            field=models.BooleanField(default=True),
        ),
    ]
