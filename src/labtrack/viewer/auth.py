"""Request guards: an optional access token and a Host-header check for loopback servers.

Token: when the viewer has one, every request must carry it, as ``Authorization: Bearer <t>``,
the ``labtrack_token`` cookie, or ``?token=<t>`` (the printed address has it; the page then sets
the cookie, HttpOnly and SameSite=Strict, so links and fetches need not repeat it). Tokens are
compared in constant time.

Host check: a server bound to a loopback address answers only requests whose ``Host`` names it
exactly: ``localhost``, ``127.0.0.1``, ``[::1]`` or the ``--host`` it was started with (say
``127.0.0.2``), each with or without a port. This defeats DNS-rebinding pages, which reach the
server under a name of the attacker's (``127.0.0.1.evil.example`` included: names are compared
whole, never by prefix) and would otherwise read the store through the user's browser.
"""

from __future__ import annotations

import hmac
import ipaddress
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
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` exposes the server to this machine only: ``localhost`` or a
    loopback address (``127.0.0.0/8``, ``::1``); never a name that merely starts like one."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve anywhere
        return False


def allowed_hosts(bind_host: str) -> frozenset[str]:
    """The ``Host`` names (ports aside) a loopback server bound to ``bind_host`` answers to."""
    bound = bind_host.lower()
    if ":" in bound and not bound.startswith("["):
        bound = f"[{bound}]"  # an IPv6 address, as it appears in a Host header
    return LOOPBACK_NAMES | {bound}


def host_name(header: str) -> str | None:
    """The name in a ``Host`` header without its port, lower-cased; None when malformed."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[: end + 1], value[end + 1 :]
    else:
        name, colon, port = value.partition(":")
        rest = colon + port
    if rest and not (rest[0] == ":" and rest[1:].isdigit()):
        return None
    return name


class GuardMiddleware:
    """ASGI middleware enforcing the token (if any) and, when ``hosts`` is given, that the
    ``Host`` header names one of them exactly (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, token: str | None, hosts: frozenset[str] | None) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.hosts is not None and host_name(headers.get("host", "")) not in self.hosts:
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
