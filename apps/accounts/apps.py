from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self):
        # Registers the OpenAPI descriptions of our authentication classes (by import).
        from apps.accounts import schema  # noqa: F401
