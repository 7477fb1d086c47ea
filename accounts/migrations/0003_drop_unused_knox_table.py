"""knox's own AuthToken model is swapped out (KNOX_TOKEN_MODEL = accounts.DeviceToken), but knox's
migrations create its table anyway. Nothing uses it, and its foreign key to accounts_user makes
TRUNCATE of the users table (test flushes) fail, so it is dropped."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_profile_settings_tokens_friends_blocks"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS knox_authtoken CASCADE", reverse_sql=migrations.RunSQL.noop),
    ]
