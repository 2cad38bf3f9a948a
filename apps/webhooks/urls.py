from django.urls import path

from apps.webhooks import views

app_name = "webhooks"
urlpatterns = [
    path("notifications/", views.notifications, name="notifications"),
    path("webhooks/", views.webhook_list, name="list"),
    path("webhooks/docs/", views.webhook_docs, name="docs"),
    path("webhooks/<int:webhook_id>/", views.webhook_detail, name="detail"),
    path("webhooks/<int:webhook_id>/test/", views.webhook_test, name="test"),
    path("webhooks/<int:webhook_id>/rotate/", views.webhook_rotate, name="rotate"),
    path("webhooks/<int:webhook_id>/delete/", views.webhook_delete, name="delete"),
    path("webhooks/<int:webhook_id>/deliveries/", views.delivery_log, name="deliveries"),
    path(
        "webhooks/deliveries/<int:delivery_id>/resend/",
        views.delivery_resend,
        name="resend",
    ),
]
