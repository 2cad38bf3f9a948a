from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        from apps.core.events import domain_event
        from apps.webhooks import receivers

        domain_event.connect(receivers.on_domain_event, weak=False, dispatch_uid="webhooks")
        domain_event.connect(receivers.on_domain_event_mail, weak=False, dispatch_uid="mail")
