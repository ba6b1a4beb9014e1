"""The portal's own static files are linked from the pages and served (no 404 in the console)."""

import re

from django.test import Client


def test_login_page_links_a_favicon_that_is_served(client: Client) -> None:
    page = client.get("/accounts/login/").content.decode()
    (href,) = re.findall(r'<link rel="icon" href="([^"]+)"', page)
    icon = client.get(href)
    assert icon.status_code == 200
    assert b"".join(icon.streaming_content).startswith(b"<svg")
