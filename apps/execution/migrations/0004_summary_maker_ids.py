"""Runs planned before the planner read its makers from the run summary get `maker_ids` there:
the run's maker wallets in id order, as the planner's wallet indexes have always meant."""

from django.db import migrations


def add_maker_ids(apps, schema_editor):
    CampaignRun = apps.get_model("campaigns", "CampaignRun")
    Wallet = apps.get_model("wallets", "Wallet")
    for run in CampaignRun.objects.filter(summary__has_key="plan").exclude(
        summary__has_key="maker_ids"
    ):
        makers = Wallet.objects.filter(run_id=run.pk, kind="maker").order_by("id")
        run.summary["maker_ids"] = list(makers.values_list("id", flat=True))
        run.save(update_fields=["summary"])


class Migration(migrations.Migration):
    dependencies = [
        ("execution", "0003_ledger_plural"),
        ("campaigns", "0001_initial"),
        ("wallets", "0001_initial"),
    ]

    operations = [migrations.RunPython(add_maker_ids, migrations.RunPython.noop)]
