"""ASGI entry point: Django over HTTP, Channels consumers over WebSocket."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "volumebot.settings.base")
# Django must be set up before anything imports models (the routing below does).
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.core.proxies import ClientAddressMiddleware  # noqa: E402
from volumebot.routing import websocket_urlpatterns  # noqa: E402

# The client's address and scheme are settled first, for both protocols (apps.core.proxies).
application = ClientAddressMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_application,
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)
