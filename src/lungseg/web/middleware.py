"""ASGI middleware: security headers on every response, and hard limits on request bodies that stop
reading (413) as soon as they are exceeded, so an oversize request never fills memory or the disk.

Only the two upload routes (``POST /analyses``, ``POST /api/v1/analyses``) may send a large body, and
only with a credential (a session cookie or an ``Authorization`` header; the route itself then checks
it): an anonymous large upload is refused before a byte of it is read. Every other request may send
``SMALL_BODY`` bytes (forms are a few hundred bytes)."""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# NiiVue compiles WebGL shaders (no eval); 'wasm-unsafe-eval' is left out unless the viewer needs it.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"same-origin"), (b"x-frame-options", b"DENY"),
           (b"permissions-policy", b"camera=(), microphone=(), geolocation=()")]


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
SMALL_BODY = 256 << 10


class TooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parser passes it on as 413 instead of a generic 400."""

    def __init__(self, limit: int):
        super().__init__(413, f"upload too large: the limit is {limit // (1 << 20)} MB")


class BodyLimit:
    """413 when Content-Length says more than the route's limit, or as soon as the streamed body does;
    401 for a large upload without any credential."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_upload = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        upload = scope["method"] == "POST" and scope["path"].rstrip("/") in UPLOAD_PATHS
        limit = self.max_upload if upload else SMALL_BODY
        length = headers.get(b"content-length")
        if upload and b"lungseg_session=" not in headers.get(b"cookie", b"") and b"authorization" not in headers:
            if length is None or not length.isdigit() or int(length) > SMALL_BODY:
                return await _refuse(send, 401, b"sign in (or send an access token) before uploading")
            limit = SMALL_BODY
        if length is not None and length.isdigit() and int(length) > limit:
            return await _too_large(send, limit)
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
                await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    await _refuse(send, 413, (f"request too large: the limit is {limit // (1 << 20)} MB" if limit >= 1 << 20
                              else f"request too large: the limit is {limit // 1024} KB").encode())


async def _refuse(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"),
                            (b"content-length", str(len(body)).encode())] + HEADERS})
    await send({"type": "http.response.body", "body": body})
