"""`POST /predict` answered by an ASGI middleware inside BentoML's own, not by BentoML's route.

BentoML's route for an API costs each request, before and after the model (py-spy on a worker
under `make bench`, concurrency 1): the method's signature rebuilt with `inspect.signature`, a
Starlette Request, the service context, the serde lookup, the pydantic field walk that builds the
call's arguments, Starlette's routing and exception layers, and a traceback logged for every bad
body. Together about 170 µs a request, an eighth of a worker's time per prediction.

`Service.add_asgi_middleware` puts this middleware inside BentoML's request metrics, tracing,
timeout and concurrency-limit middlewares, so /metrics still counts and times every request, a
request over `serve.timeout_s` still gets 504, one over the concurrency limit 429, and a sampled
trace still gets its span. What it answers is what BentoML's route answered: the same JSON, the
same 400 body naming each field, 413 for a body too large to be valid (refused before it is read
in full), 503 when the batcher sheds a request, 500 (logged) when the model fails. Every other
path and method goes on to BentoML.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson
from bentoml.exceptions import BentoMLException
from pydantic import ValidationError

logger = logging.getLogger(__name__)

JSON_TYPE = (b"content-type", b"application/json")
INTERNAL_ERROR = "An unexpected error has occurred, please check the server log."


@dataclass
class Route:
    """What the middleware serves: a path, the largest valid body and the service's answer.

    `answer` maps a body to the answer's JSON; the service sets it once its model is loaded
    (BentoML builds the middleware before the service instance exists).
    """

    path: str
    max_body_bytes: int
    server: str
    answer: Callable[[bytes], Awaitable[bytes]] | None = field(default=None)


def validation_detail(error: ValidationError) -> list[dict[str, Any]]:
    """A 400 answer's `detail`: each problem's place and message, never the input it was given."""
    return error.errors(include_context=False, include_input=False, include_url=False)


def error_answer(error: Exception) -> tuple[int, bytes]:
    """The status and JSON body of a request's failure, as BentoML's route words them."""
    if isinstance(error, ValidationError):
        detail = validation_detail(error)
        title = str(error).split("\n", 1)[0]  # "2 validation errors for PredictRequest"
        return HTTPStatus.BAD_REQUEST, orjson.dumps({"error": title, "detail": detail})
    # A 4xx, or the batcher's 503: the client's to act on, said as it is.
    if isinstance(error, BentoMLException) and error.error_code != HTTPStatus.INTERNAL_SERVER_ERROR:
        return error.error_code, orjson.dumps({"error": str(error)})
    logger.error("Exception on /predict [POST]", exc_info=error)
    return HTTPStatus.INTERNAL_SERVER_ERROR, orjson.dumps({"error": INTERNAL_ERROR})


class BodyTooLargeError(BentoMLException):
    error_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class NotReadyError(BentoMLException):
    error_code = HTTPStatus.SERVICE_UNAVAILABLE


class PredictEndpoint:
    """ASGI middleware: `POST <route.path>` answered by `route.answer`, the rest passed on."""

    def __init__(self, app: Any, route: Route) -> None:
        self.app = app
        self.route = route
        self.headers = [JSON_TYPE, (b"server", route.server.encode())]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        route = self.route
        if scope["type"] != "http" or scope["path"] != route.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            if route.answer is None:
                raise NotReadyError("the model is not loaded yet")
            status, content = HTTPStatus.OK, await route.answer(await self.body(scope, receive))
        except Exception as error:  # each failure is answered; only the unexpected are logged
            status, content = error_answer(error)
        headers = [*self.headers, (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def body(self, scope: dict[str, Any], receive: Any) -> bytes:
        """The request's body; one over `max_body_bytes` is refused, unread when it says so."""
        limit = self.route.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise BodyTooLargeError(f"request body exceeds {limit} bytes")
        chunks = bytearray()
        more = True
        while more:
            message = await receive()
            chunks += message.get("body", b"")
            if len(chunks) > limit:
                raise BodyTooLargeError(f"request body exceeds {limit} bytes")
            more = message.get("more_body", False)
        return bytes(chunks)
