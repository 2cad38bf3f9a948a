"""The stock Django admin, with the operator console's pages added to its URLs.

Installed in place of `django.contrib.admin` (INSTALLED_APPS names `OpsAdminConfig`), so
`admin.site` everywhere is this site and every app's `admin.py` registers on it as usual.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import path


class OpsAdminSite(admin.AdminSite):
    site_header = "volumebot operations"
    site_title = "volumebot operations"
    index_title = "Operator console"

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
