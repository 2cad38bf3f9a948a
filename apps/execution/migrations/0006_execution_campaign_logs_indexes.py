"""Executions carry their campaign (denormalised from run.campaign, like `run` from job.run), so
a campaign's logs, newest first across all its runs, are one range scan of an index in the
keyset order instead of a sort of every execution the campaign ever had. Filled from the runs
for existing rows, then required. A block range index on created_at serves the control room's
windows over every campaign (the last hour, the last day)."""

import django.contrib.postgres.indexes
import django.db.models.deletion
from django.db import migrations, models

BACKFILL = """UPDATE execution_execution AS e SET campaign_id = r.campaign_id
    FROM campaigns_campaignrun AS r WHERE r.id = e.run_id"""


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("execution", "0005_job_step_window_preflight"),
    ]

    operations = [
        migrations.AddField(
            model_name="execution",
            name="campaign",
            field=models.ForeignKey(
                db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE,
                related_name="executions", to="campaigns.campaign",
            ),  # fmt: skip
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="execution",
            name="campaign",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE,
                related_name="executions", to="campaigns.campaign",
            ),  # fmt: skip
        ),
        migrations.AddIndex(
            model_name="execution",
            index=models.Index(
                fields=["campaign", "-created_at", "-id"], name="execution_campaign_created"
            ),
        ),
        migrations.AddIndex(
            model_name="execution",
            index=models.Index(
                fields=["campaign", "status", "-created_at", "-id"],
                name="execution_campaign_status",
            ),
        ),
        migrations.AddIndex(
            model_name="execution",
            index=django.contrib.postgres.indexes.BrinIndex(
                fields=["created_at"], name="execution_created_brin"
            ),
        ),
    ]
