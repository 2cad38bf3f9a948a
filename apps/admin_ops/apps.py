from django.apps import AppConfig


class AdminOpsConfig(AppConfig):
    name = "apps.admin_ops"
    label = "admin_ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from apps.admin_ops import alerts
        from apps.core.throttling import rate_limit_exceeded

        rate_limit_exceeded.connect(alerts.on_rate_limit_exceeded, dispatch_uid="rate_limit_alert")
