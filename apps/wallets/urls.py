from django.urls import path

from apps.wallets import views

app_name = "wallets"
urlpatterns = [
    path("", views.wallet_list, name="list"),
    path("add/", views.wallet_add, name="add"),
    path("<int:wallet_id>/", views.wallet_detail, name="detail"),
    path("<int:wallet_id>/edit/", views.wallet_edit, name="edit"),
    path("<int:wallet_id>/airdrop/", views.wallet_airdrop, name="airdrop"),
    path("<int:wallet_id>/verify/", views.wallet_verify, name="verify"),
    path("<int:wallet_id>/export/", views.wallet_export, name="export"),
    path("<int:wallet_id>/delete/", views.wallet_delete, name="delete"),
]
