"""The headers every response of the HTTP port carries, errors and streams included.

No inline script or style can run (the bundle is files only), nothing may frame
the dashboard, and the browser may talk to this origin alone: the API key lives
in this page's session storage, so what can run here is what could read it.
"""

from __future__ import annotations

from aiohttp import web

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An `on_response_prepare` hook: it runs for every response, before its headers go."""
    response.headers.update(SECURITY_HEADERS)
