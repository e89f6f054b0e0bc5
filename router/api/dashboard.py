"""GET /dashboard: the operator console, one self-contained page (router/static/dashboard.html).

The page holds no data and no secret: it asks for the admin key (or reads it from the URL
fragment ``#key=...``, which browsers never send to the server) and calls the admin JSON
endpoints with it as ``Authorization: Bearer``. Off (404) when the admin API is off.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from router.api.deps import SettingsDep
from router.protocol import GatewayError

router = APIRouter()

# Inline script and style only; the page may fetch from this origin and nothing else.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


@lru_cache(maxsize=1)
def page() -> str:
    return files("router").joinpath("static/dashboard.html").read_text(encoding="utf-8")


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(settings: SettingsDep) -> HTMLResponse:
    if not settings.admin_key:
        raise GatewayError(404, "Not found: the admin API is off (set V0_ADMIN_KEY).",
                           type="not_found_error", code="admin_disabled")
    return HTMLResponse(page(), headers=HEADERS)
