from django.apps import AppConfig


class ChainConfig(AppConfig):
    """The Solana layer. A plain package with no models; an app only so that its management
    command (`localnet`) is found."""

    name = "apps.chain"
    label = "chain"
