from django.urls import path

from apps.tokens import views

app_name = "tokens"
urlpatterns = [
    path("", views.token_index, name="index"),
    path("register/", views.token_register_view, name="register"),
    path("<int:token_id>/", views.token_detail, name="detail"),
    path("<int:token_id>/pools/select/", views.pool_select, name="pool_select"),
]
