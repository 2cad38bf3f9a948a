from django.apps import AppConfig


class ChainConfig(AppConfig):
    """Registered only so `manage.py localnet` is discoverable; the chain layer has no models."""

    name = "apps.chain"
    label = "chain"
    verbose_name = "Chain"
