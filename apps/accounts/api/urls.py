from django.urls import path
from rest_framework_simplejwt.views import TokenRefreshView, TokenVerifyView

from apps.accounts.api import views

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("auth/token", views.TokenObtainView.as_view(), name="token_obtain"),
    path("auth/token/refresh", TokenRefreshView.as_view(), name="token_refresh"),
    path("auth/token/verify", TokenVerifyView.as_view(), name="token_verify"),
]
