from django.contrib.auth import views as auth_views
from django.urls import path

from apps.accounts import views

app_name = "accounts"
urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("signin/", views.SignInView.as_view(), name="signin"),
    path("signout/", auth_views.LogoutView.as_view(), name="signout"),
    path("signout-everywhere/", views.signout_everywhere, name="signout_everywhere"),
    path("verify/<str:token>/", views.verify, name="verify"),
    path("verify-again/", views.resend_verification, name="resend_verification"),
    path("password-reset/", views.password_reset, name="password_reset"),
    path("password-reset/sent/", views.password_reset_done, name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        views.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("password-reset/done/", views.password_reset_complete, name="password_reset_complete"),
    path("settings/profile/", views.profile, name="profile"),
    path("settings/password/", views.password_change, name="password_change"),
    path("settings/theme/", views.set_theme, name="set_theme"),
    path("settings/api-keys/", views.api_keys, name="api_keys"),
    path("settings/two-factor/", views.two_factor, name="two_factor"),
    path("two-factor/verify/", views.two_factor_verify, name="two_factor_verify"),
    path(
        "settings/api-keys/<int:key_id>/revoke/",
        views.api_key_revoke_page,
        name="api_key_revoke",
    ),
]
