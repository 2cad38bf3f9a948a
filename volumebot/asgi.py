"""ASGI entry point: Django over HTTP, Channels consumers over WebSocket."""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "volumebot.settings.base")
if not settings.configured:
    # A web process, which loads its settings here: it uses the connection pool (settings
    # DB_POOL_*; DB_POOL=0 in the environment turns it off). A process that loaded its settings
    # already (a test run serving this app in a thread) keeps them, and so do the Celery
    # workers it starts, which inherit its environment.
    os.environ.setdefault("DB_POOL", "1")
# Django must be set up before anything imports models (the routing below does).
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.accounts.websocket import TokenOrSessionAuth  # noqa: E402
from apps.core.proxies import ClientAddressMiddleware  # noqa: E402
from volumebot.routing import websocket_urlpatterns  # noqa: E402

# The client's address and scheme are settled first, for both protocols (apps.core.proxies).
application = ClientAddressMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_application,
            # `?ticket=`/`?token=` clients with any Origin or none; cookie sessions from our own
            # origins only (apps.accounts.websocket).
            "websocket": TokenOrSessionAuth(URLRouter(websocket_urlpatterns)),
        }
    )
)
