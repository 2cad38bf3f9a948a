"""A maker wallet's run becomes a real foreign key (the column `run_id` stays, with its index).
A wallet whose run no longer exists (its campaign was deleted) gets NULL first, as the new
SET_NULL rule would have given it; then the constraint is added."""

import django.db.models.deletion
from django.db import migrations, models

CONSTRAINT = "wallets_wallet_run_id_fk_campaigns_campaignrun_id"


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("wallets", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            """UPDATE wallets_wallet SET run_id = NULL WHERE run_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM campaigns_campaignrun AS run WHERE run.id = wallets_wallet.run_id)""",
            migrations.RunSQL.noop,
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"""ALTER TABLE wallets_wallet ADD CONSTRAINT {CONSTRAINT} FOREIGN KEY (run_id)
                        REFERENCES campaigns_campaignrun (id) DEFERRABLE INITIALLY DEFERRED""",
                    f"ALTER TABLE wallets_wallet DROP CONSTRAINT {CONSTRAINT}",
                ),
            ],
            state_operations=[
                migrations.RemoveField(model_name="wallet", name="run_id"),
                migrations.AddField(
                    model_name="wallet",
                    name="run",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="maker_wallets",
                        to="campaigns.campaignrun",
                    ),
                ),
            ],
        ),
    ]
