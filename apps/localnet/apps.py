from django.apps import AppConfig


class LocalnetConfig(AppConfig):
    """The local Solana cluster (development and tests): registered for `manage.py localnet`.
    It has no models; it depends on `apps.chain`, and nothing in `apps.chain` imports it."""

    name = "apps.localnet"
    label = "localnet"
    verbose_name = "Localnet"
