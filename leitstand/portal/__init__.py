"""The web portal: server-rendered pages (Jinja2 + HTMX) over the same scoped sessions as the API.

How the portal is put together, so every page reads the same way:

- A page handler takes `Annotated[Access, page(Permission.x)]`: the same authentication,
  permission check and tenant scope as the JSON API (leitstand.web.deps). An anonymous
  visitor is sent to the login page instead of getting a 401 document.
- Pages only read. Every change a user makes goes through the JSON API (`/api/v1/...`)
  from the browser, with the session's CSRF token in the `x-csrf-token` header, so the
  portal can never do what the API would refuse. Fragments are re-fetched afterwards.
  The exceptions: bulk actions (leitstand.portal.bulk), which htmx POSTs (CSRF header
  included) to the portal, applied item by item through the same services and scoped
  sessions and answered with the outcome per item as HTML; and plain HTML forms that work
  without JavaScript (the alarm-rule builder), which take `form_page(Permission.x)` and
  carry the CSRF token as a `csrf_token` field.
- `render(request, "area/page.html", {...})` adds the principal, the CSRF token, `can()`
  for hiding what a user may not use, and the gettext functions for the request's language.
- Each area owns a module (`dashboard.py`, `sites.py`, ...), a template folder and a German
  catalogue `locale/de/LC_MESSAGES/<area>.po`; message ids are the English texts.
- Front-end sources live in `frontend/src/` and are bundled by npm at build time into
  `leitstand/portal/static/build/` (not committed).
"""
