from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "apps.wallets"
    label = "wallets"

    def ready(self) -> None:
        from celery.signals import worker_init

        from apps.wallets import checks

        # A worker with the wrong master key would fail every signature: refuse to start.
        worker_init.connect(checks.verify_master_key_or_exit, weak=False)
