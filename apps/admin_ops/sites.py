"""The stock Django admin, with the operator console's pages added to its URLs.

Installed in place of `django.contrib.admin` (INSTALLED_APPS names `OpsAdminConfig`), so
`admin.site` everywhere is this site and every app's `admin.py` registers on it as usual.
"""

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.shortcuts import redirect
from django.urls import path, reverse


class OpsAdminSite(admin.AdminSite):
    """Staff need a session that passed the second factor (django-otp's OTPMiddleware sets
    `is_verified`): a stolen password or session cookie alone does not open the console."""

    site_header = "volumebot operations"
    site_title = "volumebot operations"
    index_title = "Operator console"

    def has_permission(self, request):
        return super().has_permission(request) and request.user.is_verified()

    def login(self, request, extra_context=None):
        # Signed-in staff without the second factor go to the code page (or the set-up page
        # when they have none yet), then come back.
        user = request.user
        if user.is_active and user.is_staff and not user.is_verified():
            target = request.GET.get("next") or reverse("admin:index")
            verify = reverse("accounts:two_factor_verify")
            return redirect(f"{verify}?{urlencode({'next': target})}")
        return super().login(request, extra_context)

    def get_urls(self):
        from apps.admin_ops import views

        urls = [
            path("control-room/", self.admin_view(views.control_room), name="control_room"),
            path(
                "control-room/pause-all/",
                self.admin_view(views.pause_all),
                name="control_room_pause_all",
            ),
        ]
        return urls + super().get_urls()


class OpsAdminConfig(AdminConfig):
    default_site = "apps.admin_ops.sites.OpsAdminSite"
