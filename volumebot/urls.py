from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.admin_ops.views import metrics
from apps.campaigns.views import dashboard

api_urlpatterns = [
    path("", include("apps.accounts.api.urls")),
    path("", include("apps.tokens.api.urls")),
    path("", include("apps.wallets.api.urls")),
    path("", include("apps.campaigns.api.urls")),
    path("", include("apps.webhooks.api.urls")),
]

urlpatterns = [
    path("", include("apps.core.urls")),
    # The signed-in home page shows campaigns: it is theirs, not core's (core imports no app).
    path("dashboard/", dashboard, name="dashboard"),
    path("accounts/", include("apps.accounts.urls")),
    path("tokens/", include("apps.tokens.urls")),
    path("wallets/", include("apps.wallets.urls")),
    path("campaigns/", include("apps.campaigns.urls")),
    path("settings/", include("apps.webhooks.urls")),
    path("admin/", admin.site.urls),
    path("metrics", metrics, name="metrics"),
    path("v1/", include((api_urlpatterns, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]

handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"
