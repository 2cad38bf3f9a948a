"""Jobs say what they do in columns instead of inside their idempotency key: `step` (a
distribute funding batch; a gather's sell, sweep or finish, the sell and sweep naming their maker
in the payload like a trade does) and `window` (a planner job's window). The pre-flight's type is
`preflight` (it was `gather`, labelled "Pre-flight", beside the real gather `funds_gather`); its
keys follow, so a pre-flight created after this migration for a run that already has one is
still the same job. The queue keeps its name (`gather`): workers subscribe to it by name."""

from django.db import migrations, models

FORWARD = [
    """UPDATE execution_job SET type = 'preflight',
        idempotency_key = replace(idempotency_key, ':gather:', ':preflight:')
        WHERE type = 'gather'""",
    """UPDATE execution_job SET step = 'batch'
        WHERE type = 'distribute' AND split_part(idempotency_key, ':', 4) LIKE 'batch-%'""",
    """UPDATE execution_job SET
        step = split_part(split_part(idempotency_key, ':', 4), '-', 1),
        payload = payload || jsonb_build_object(
            'wallet_id', split_part(split_part(idempotency_key, ':', 4), '-', 2)::bigint)
        WHERE type = 'funds_gather'
          AND split_part(split_part(idempotency_key, ':', 4), '-', 1) IN ('sell', 'sweep')""",
    """UPDATE execution_job SET step = 'finish'
        WHERE type = 'funds_gather' AND split_part(idempotency_key, ':', 4) = 'finish'""",
    """UPDATE execution_job SET "window" = split_part(idempotency_key, ':', 4)::integer
        WHERE type = 'plan'""",
]
BACKWARD = [
    """UPDATE execution_job SET payload = payload - 'wallet_id'
        WHERE type = 'funds_gather' AND step IN ('sell', 'sweep')""",
    """UPDATE execution_job SET type = 'gather',
        idempotency_key = replace(idempotency_key, ':preflight:', ':gather:')
        WHERE type = 'preflight'""",
]


class Migration(migrations.Migration):
    dependencies = [
        ("execution", "0004_summary_maker_ids"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="step",
            field=models.CharField(
                choices=[
                    ("main", "Main"),
                    ("batch", "Funding batch"),
                    ("sell", "Sell a maker's tokens"),
                    ("sweep", "Sweep a maker"),
                    ("finish", "Finish the run"),
                ],
                default="main",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="job",
            name="window",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="job",
            name="type",
            field=models.CharField(
                choices=[
                    ("distribute", "Distribute"),
                    ("preflight", "Pre-flight"),
                    ("trade_buy", "Buy"),
                    ("trade_sell", "Sell"),
                    ("status", "Status"),
                    ("funds_gather", "Gather funds"),
                    ("plan", "Planner window"),
                ],
                max_length=32,
            ),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
