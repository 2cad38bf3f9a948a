from django.urls import path

from apps.campaigns.consumers import CampaignConsumer
from apps.core.consumers import NoticesConsumer

websocket_urlpatterns = [
    path("ws/notices/", NoticesConsumer.as_asgi()),
    path("ws/campaigns/<int:campaign_id>/", CampaignConsumer.as_asgi()),
]
