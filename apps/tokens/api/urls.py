from django.urls import path

from apps.tokens.api import views

urlpatterns = [
    path("tokens", views.TokenListView.as_view(), name="tokens"),
    path("tokens/<int:token_id>", views.TokenDetailView.as_view(), name="token"),
    path("pools", views.PoolListView.as_view(), name="pools"),
    path("pools/selected", views.PoolSelectionListView.as_view(), name="pool_selections"),
    path(
        "pools/selected/<int:selection_id>",
        views.PoolSelectionDetailView.as_view(),
        name="pool_selection",
    ),
]
