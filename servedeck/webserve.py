"""`servedeck serve`: the same cockpit as a web page, through textual-serve.

Each browser session runs its own `servedeck` process on the server (textual-serve's
model). On loopback no token is needed; bound anywhere else the page asks for a token
first, and every request (page, websocket, static files) must carry it: as `?token=`
once, then as an HttpOnly cookie. The token comes from $SERVEDECK_SERVE_TOKEN (which
also turns the check on for loopback), else one is generated and printed at start.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import shlex
import sys

from aiohttp import web
from textual_serve.server import Server

TOKEN_ENV = "SERVEDECK_SERVE_TOKEN"
COOKIE = "servedeck_token"

ASK_PAGE = """<!DOCTYPE html><html><head><title>servedeck</title></head>
<body style="background:#0c181f;color:#eee;font-family:monospace;padding:3em">
<h1>servedeck</h1><p>This cockpit needs its access token.</p>{problem}
<form method="get" action="/"><input name="token" type="password" autofocus size="40">
<button type="submit">open</button></form></body></html>"""


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cockpit_command(config: str | None, readonly: bool) -> str:
    argv = [sys.executable, "-m", "servedeck"]
    if config:
        argv += ["--config", config]
    if readonly:
        argv.append("--readonly")
    return shlex.join(argv)


def token_guard(token: str):
    """An aiohttp middleware that lets through only requests carrying the token."""

    @web.middleware
    async def guard(request: web.Request, handler):
        offered = request.query.get("token")
        given = offered if offered is not None else request.cookies.get(COOKIE, "")
        if given and hmac.compare_digest(given.encode(), token.encode()):
            response = await handler(request)
            if offered is not None:
                response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
            return response
        if request.path == "/":
            problem = "<p style='color:#f66'>wrong token: refused</p>" if offered else ""
            return web.Response(status=401 if not offered else 403, content_type="text/html",
                                text=ASK_PAGE.format(problem=problem))
        raise web.HTTPForbidden(text="servedeck: a token is needed")

    return guard


class CockpitServer(Server):
    """textual-serve's server with the token check in front of every route."""

    def __init__(self, command: str, *, host: str, port: int, token: str | None, public_url: str | None = None):
        super().__init__(command, host=host, port=port, title="servedeck", public_url=public_url)
        self.token = token

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        if self.token:
            app.middlewares.append(token_guard(self.token))
        return app

    async def on_startup(self, app: web.Application) -> None:
        print(f"servedeck serve: the cockpit on {self.public_url} ({'token required' if self.token else 'loopback, no token'})",
              flush=True)


def choose_token(host: str, environ) -> tuple[str | None, str]:
    """(token, what to say about it at start)."""
    given = environ.get(TOKEN_ENV)
    if given:
        return given, f"a token is required (from ${TOKEN_ENV})"
    if is_loopback(host):
        return None, f"bound to loopback {host}: no token (set ${TOKEN_ENV} to require one)"
    token = secrets.token_urlsafe(24)
    return token, (f"bound to {host}, not loopback: the page asks for a token; this run's token is {token} "
                   f"(open /?token=...; set ${TOKEN_ENV} to choose it)")
