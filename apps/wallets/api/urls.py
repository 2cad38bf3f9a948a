from django.urls import path

from apps.wallets.api import views

urlpatterns = [
    path("wallets", views.WalletListView.as_view(), name="wallet_list"),
    path("wallets/<int:wallet_id>", views.WalletDetailView.as_view(), name="wallet_detail"),
    path(
        "wallets/<int:wallet_id>/balances",
        views.WalletBalancesView.as_view(),
        name="wallet_balances",
    ),
    path("wallets/<int:wallet_id>/verify", views.WalletVerifyView.as_view(), name="wallet_verify"),
    path("wallets/<int:wallet_id>/export", views.WalletExportView.as_view(), name="wallet_export"),
]
