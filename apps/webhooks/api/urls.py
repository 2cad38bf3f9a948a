from django.urls import path

from apps.webhooks.api import views

urlpatterns = [
    path("webhooks", views.WebhookListView.as_view(), name="webhook_list"),
    path("webhooks/test", views.WebhookTestView.as_view(), name="webhook_test"),
    path("webhooks/<int:webhook_id>", views.WebhookDetailView.as_view(), name="webhook_detail"),
    path(
        "webhooks/<int:webhook_id>/deliveries",
        views.WebhookDeliveriesView.as_view(),
        name="webhook_deliveries",
    ),
    path(
        "webhooks/<int:webhook_id>/rotate-secret",
        views.WebhookRotateSecretView.as_view(),
        name="webhook_rotate_secret",
    ),
    path(
        "webhooks/deliveries/<int:delivery_id>/resend",
        views.DeliveryResendView.as_view(),
        name="webhook_delivery_resend",
    ),
]
