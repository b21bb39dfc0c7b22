"""``/docs``: Swagger UI over ``/openapi.json``, only when the server runs with ``--docs``.

Swagger UI's script and style come from a CDN (jsDelivr): a page of the server's own origin
running a third party's script. So it is off by default (``/openapi.json`` is always there), and
when it is on, a Content-Security-Policy lets the page load only those two files, run only its one
inline script (by hash), and talk only to the server itself.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

_SCRIPT_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
_STYLE_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def add_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` under a strict Content-Security-Policy."""
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{app.title} - API",
        swagger_js_url=_SCRIPT_URL,
        swagger_css_url=_STYLE_URL,
        swagger_favicon_url="/ui/static/icon.svg",
    )
    html = bytes(page.body)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html.decode())
    )
    policy = (
        f"default-src 'none'; script-src {_SCRIPT_URL} {hashes}; style-src {_STYLE_URL}; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers={"content-security-policy": policy})
