"""The API documentation page (/api/docs): Swagger UI over the OpenAPI schema.

Swagger UI comes from npm (swagger-ui-dist) at build time; frontend/build.mjs copies it, with
the page's start-up script, into leitstand/portal/static/apidocs/. So the page works without
the internet, and no script from a CDN runs with the visitor's session: the page runs under the
portal's CSP like any other (leitstand.web.security_headers).
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

DOCS_PATH = "/api/docs"
ASSETS_URL = "/static/apidocs/"


def install_api_docs(app: FastAPI) -> None:
    assert app.openapi_url is not None
    page = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{escape(app.title)}</title>
  <link rel="icon" href="/static/build/icons/icon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="{ASSETS_URL}swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{escape(app.openapi_url)}"></div>
  <script src="{ASSETS_URL}swagger-ui-bundle.js"></script>
  <script src="{ASSETS_URL}api-docs.js"></script>
</body>
</html>
"""

    @app.get(DOCS_PATH, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(page)
