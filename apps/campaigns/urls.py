from django.urls import path

from apps.campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_new, name="new"),
    path("new/pools/", views.wizard_pools, name="wizard_pools"),
    path("new/check/", views.wizard_check, name="wizard_check"),
    path("new/review/", views.wizard_review, name="wizard_review"),
    path("<int:campaign_id>/", views.campaign_detail, name="detail"),
    path("<int:campaign_id>/logs/", views.campaign_logs, name="logs"),
    path("<int:campaign_id>/<str:action>/", views.campaign_action, name="action"),
]
