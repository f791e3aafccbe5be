"""The live page (ring 2): static files shipped in the package (`static/`: HTML, CSS, plain
ES modules), served at the control listener's root. No build step and nothing fetched from
elsewhere, so the page works in an offline classroom. Everything it shows comes from the
control surface: `GET /v1/sim/state`, the event stream and the teaching calls.

    GET /             the page (static/index.html)
    GET /ui/FILE      its other files
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from .nomad_api import not_found

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# What a page may load: itself only (no inline script, nothing from other origins).
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'"
)


async def serve(request: web.Request) -> web.Response:
    """GET the page or one of its files; 404 for any other path or method."""
    path = request.path
    name = "index.html" if path == "/" else path.removeprefix("/ui/")
    static = resources.files("raftsim.web").joinpath("static")
    if request.method not in ("GET", "HEAD") or (path != "/" and not path.startswith("/ui/")):
        return not_found()
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in TYPES:
        return not_found()
    file = static.joinpath(name)
    if not file.is_file():
        return not_found()
    return web.Response(
        body=file.read_bytes(),
        headers={
            "Content-Type": TYPES[suffix],
            "Cache-Control": "no-cache",
            "Content-Security-Policy": POLICY,
            "X-Content-Type-Options": "nosniff",
        },
    )
