"""ASGI entry point: HTTP through Django, websockets through Channels.

A websocket must come from a page of this site (its Origin's scheme, host and port checked by
qenergyz.websocket_origin) and carry a session; the consumers then apply the same access rules
as the pages.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qenergyz.settings")
django_asgi_app = get_asgi_application()  # before anything imports models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from qenergyz.routing import websocket_urlpatterns  # noqa: E402
from qenergyz.websocket_origin import SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
