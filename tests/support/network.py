"""Loopback ports for the servers the tests start, and a stand-in /predict server."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

from aiohttp import web


def free_port() -> int:
    """A TCP port nobody listens on right now, on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def predict_server(
    handler: Callable[[web.Request], Awaitable[web.Response]],
) -> tuple[web.AppRunner, str]:
    """A server answering POST /predict with `handler` on a free local port, and its URL."""
    app = web.Application()
    app.router.add_post("/predict", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"
