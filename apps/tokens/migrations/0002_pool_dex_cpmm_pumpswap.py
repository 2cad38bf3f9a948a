from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tokens", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="pool",
            name="dex",
            field=models.CharField(
                choices=[
                    ("raydium_amm_v4", "Raydium AMM v4"),
                    ("raydium_cpmm", "Raydium CPMM"),
                    ("pumpfun", "pump.fun bonding curve"),
                    ("pumpswap", "PumpSwap"),
                ],
                max_length=32,
            ),
        ),
    ]
