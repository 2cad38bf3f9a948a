from django.urls import path

from apps.campaigns.api import views

urlpatterns = [
    path("campaigns", views.CampaignListView.as_view(), name="campaigns"),
    path("campaigns/<int:campaign_id>", views.CampaignDetailView.as_view(), name="campaign"),
    path(
        "campaigns/<int:campaign_id>/start",
        views.CampaignStartView.as_view(),
        name="campaign_start",
    ),
    path(
        "campaigns/<int:campaign_id>/pause",
        views.CampaignPauseView.as_view(),
        name="campaign_pause",
    ),
    path(
        "campaigns/<int:campaign_id>/resume",
        views.CampaignResumeView.as_view(),
        name="campaign_resume",
    ),
    path(
        "campaigns/<int:campaign_id>/stop", views.CampaignStopView.as_view(), name="campaign_stop"
    ),
    path(
        "campaigns/<int:campaign_id>/sell-only",
        views.CampaignSellOnlyView.as_view(),
        name="campaign_sell_only",
    ),
    path(
        "campaigns/<int:campaign_id>/gather",
        views.CampaignGatherView.as_view(),
        name="campaign_gather",
    ),
    path(
        "campaigns/<int:campaign_id>/estimate",
        views.CampaignEstimateView.as_view(),
        name="campaign_estimate",
    ),
    path(
        "campaigns/<int:campaign_id>/status",
        views.CampaignStatusView.as_view(),
        name="campaign_status",
    ),
    path(
        "campaigns/<int:campaign_id>/logs", views.CampaignLogsView.as_view(), name="campaign_logs"
    ),
    path(
        "campaigns/<int:campaign_id>/logs.csv",
        views.CampaignLogsCsvView.as_view(),
        name="campaign_logs_csv",
    ),
    path(
        "campaigns/<int:campaign_id>/ws-ticket",
        views.CampaignWsTicketView.as_view(),
        name="campaign_ws_ticket",
    ),
]
