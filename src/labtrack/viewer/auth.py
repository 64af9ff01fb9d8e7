"""Request guards: an optional access token and a Host-header check for loopback servers.

Token: when the viewer has one, every request must carry it, as ``Authorization: Bearer <t>``,
the ``labtrack_token`` cookie, or ``?token=<t>`` (the printed address has it; the page then sets
the cookie, HttpOnly and SameSite=Strict, so links and fetches need not repeat it). Tokens are
compared in constant time.

Host check: a server bound to a loopback address answers only requests whose ``Host`` is a
loopback name, which defeats DNS-rebinding pages that would otherwise read the store through the
user's browser.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "labtrack_token"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` exposes the server to this machine only."""
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def _host_name(header: str) -> str:
    if header.startswith("["):  # [::1]:8765
        return header.split("]")[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class GuardMiddleware:
    """ASGI middleware enforcing the token (if any) and, on loopback, the Host header."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback_only: bool) -> None:
        self.app = app
        self.token = token
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.loopback_only:
            host = _host_name(headers.get("host", ""))
            if host and not is_loopback(host) and not host.startswith("127."):
                await _plain(send, 403, "Forbidden: unexpected Host header")
                return
        if self.token is not None:
            given, from_query = self._given(scope, headers)
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                await _plain(send, 401, "Unauthorized: this viewer needs its access token")
                return
            if from_query:
                await self.app(scope, receive, _with_cookie(send, self.token))
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _given(scope: Scope, headers: dict[str, str]) -> tuple[str | None, bool]:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is just "no cookie"
            cookie = SimpleCookie()
        if COOKIE in cookie:
            return cookie[COOKIE].value, False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "token" in query:
            return query["token"][0], True
        return None, False


def _with_cookie(send: Send, token: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            value = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
            message["headers"] = [*message.get("headers", []), (b"set-cookie", value.encode())]
        await send(message)

    return wrapped


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
