"""ASGI middleware: security headers on every response, and hard limits on request bodies that stop
reading (413) as soon as they are exceeded, so an oversize request never fills memory or the disk.

Only the two upload routes (``POST /analyses``, ``POST /api/v1/analyses``) may send a large body, and
only with a live credential: the upload page's session cookie, or for the API (every write under
``/api/``) an access token, checked against the database before a byte of the body is read, so a
request with no, a bogus or an expired credential is refused with 401 whatever it sends. Every other
request may send ``SMALL_BODY`` bytes (forms are a few hundred bytes)."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# NiiVue compiles WebGL shaders (no eval); 'wasm-unsafe-eval' is left out unless the viewer needs it.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in HEADERS if h[0] not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


UPLOAD_PATHS = ("/analyses", "/api/v1/analyses")
API_WRITES = ("POST", "PUT", "PATCH", "DELETE")
SMALL_BODY = 256 << 10
SIGN_IN = "Sign in before uploading: your session has ended."
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - lungseg</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main><h1>{title}</h1><p class="errors">{message}</p><p><a href="{link}">{link_text}</a></p></main></body></html>
"""


def page(status: int, message: str) -> bytes:
    """A refusal as a small page of the site (the middleware answers before the templates could)."""
    title, link, link_text = {
        401: ("Please sign in", "/login", "Sign in"),
        413: ("Upload too large", "/analyses/new", "Back to the upload form"),
    }.get(status, ("Request refused", "/", "Home"))
    return PAGE.format(title=title, message=html.escape(message), link=link, link_text=link_text).encode()


HTML = b"text/html; charset=utf-8"
TOKEN_NEEDED = b'{"detail":"a valid personal access token is required (Authorization: Bearer ...)"}'

Authenticate = Callable[[Scope, bool], Awaitable[bool]]
"""(scope, bearer) -> whether the request's session cookie (or with bearer its access token) is live."""


class TooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parser passes it on as 413 instead of a generic 400."""

    def __init__(self, limit: int):
        super().__init__(413, f"upload too large: the limit is {limit // (1 << 20)} MB")


class BodyLimit:
    """413 when Content-Length says more than the route's limit, or as soon as the streamed body does;
    401, before any of the body is read, for an upload or an API write without a live credential."""

    def __init__(self, app: ASGIApp, max_bytes: int, authenticate: Authenticate, slack: int = 0):
        """``max_bytes``: the upload limit users are told; ``slack``: bytes allowed over it for the form's
        own fields and part headers."""
        self.app, self.max_upload, self.authenticate, self.slack = app, max_bytes, authenticate, slack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        path, method = scope["path"].rstrip("/"), scope["method"]
        upload = method == "POST" and path in UPLOAD_PATHS
        api = path.startswith("/api/") and method in API_WRITES
        if (upload or api) and not await self.authenticate(scope, path.startswith("/api/")):
            if path.startswith("/api/"):
                return await _refuse(send, 401, TOKEN_NEEDED, b"application/json", [(b"www-authenticate", b"Bearer")])
            return await _refuse(send, 401, page(401, SIGN_IN), HTML)
        limit = self.max_upload + self.slack if upload else SMALL_BODY
        told = self.max_upload if upload else SMALL_BODY
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await _too_large(send, told, path.startswith("/api/"))
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except TooLarge:
            if not started:
                await _too_large(send, told, path.startswith("/api/"))


async def _too_large(send: Send, limit: int, api: bool) -> None:
    size = f"{limit // (1 << 20)} MB" if limit >= 1 << 20 else f"{limit // 1024} KB"
    if api:
        return await _refuse(send, 413, f"request too large: the limit is {size}".encode())
    message = f"The upload is larger than this site's limit of {size}. Choose fewer files or a smaller scan."
    await _refuse(send, 413, page(413, message), HTML)


async def _refuse(
    send: Send,
    status: int,
    body: bytes,
    media_type: bytes = b"text/plain; charset=utf-8",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type),
                (b"connection", b"close"),
                (b"content-length", str(len(body)).encode()),
            ]
            + (extra or [])
            + HEADERS,
        }
    )
    await send({"type": "http.response.body", "body": body})
