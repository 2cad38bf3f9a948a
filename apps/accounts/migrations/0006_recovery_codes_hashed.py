"""Recovery codes stored before this migration, in clear, are replaced by their keyed digest
(apps.accounts.mfa.recovery_code_digest): they keep working, once each, as before.

Not reversible: a digest cannot be turned back into its code (reversed, the codes stop
working and their users make a new set)."""

from django.db import migrations

from apps.accounts.mfa import DIGEST_CHARS, recovery_code_digest


def hash_recovery_codes(apps, schema_editor):
    StaticToken = apps.get_model("otp_static", "StaticToken")
    for token in StaticToken.objects.iterator():
        # Codes were made as 10 hex characters; a digest is 16 (never hashed twice).
        if len(token.token) != DIGEST_CHARS:
            token.token = recovery_code_digest(token.token)
            token.save(update_fields=["token"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_user_max_makers"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [
        migrations.RunPython(hash_recovery_codes, migrations.RunPython.noop, elidable=False),
    ]
