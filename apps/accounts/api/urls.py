from django.urls import path
from rest_framework_simplejwt.views import TokenBlacklistView

from apps.accounts.api import keys, views

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("api-keys", keys.ApiKeyListView.as_view(), name="api_key_list"),
    path("api-keys/<int:key_id>", keys.ApiKeyDetailView.as_view(), name="api_key_detail"),
    path("auth/token", views.TokenObtainView.as_view(), name="token_obtain"),
    path("auth/token/refresh", views.TokenRefreshRotatingView.as_view(), name="token_refresh"),
    path("auth/token/verify", views.TokenVerifyStampedView.as_view(), name="token_verify"),
    # Sign out one client: its refresh token is blacklisted (its access token lapses in minutes).
    path("auth/signout", TokenBlacklistView.as_view(), name="signout"),
    path(
        "auth/signout-everywhere",
        views.SignOutEverywhereView.as_view(),
        name="signout_everywhere",
    ),
]
