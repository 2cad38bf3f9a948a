from django.urls import path

from apps.core.consumers import NoticesConsumer

websocket_urlpatterns = [
    path("ws/notices/", NoticesConsumer.as_asgi()),
]
