"""A real HTTP server on 127.0.0.1 that records each request and answers a chosen status.

It stands in for GitHub's API and for a Prometheus Pushgateway: the code under test sends real
requests over a socket, and the tests read back exactly what arrived.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: Message  # looked up case-insensitively, as HTTP headers are
    body: bytes


@dataclass
class Recorder:
    url: str
    status: int = 204
    answer: bytes = b""
    requests: list[Recorded] = field(default_factory=list)


@contextmanager
def recording_server(status: int = 204, answer: bytes = b"") -> Iterator[Recorder]:
    recorder = Recorder(url="", status=status, answer=answer)

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            recorder.requests.append(
                Recorded(self.command, self.path, self.headers, self.rfile.read(length))
            )
            self.send_response(recorder.status)
            self.send_header("Content-Length", str(len(recorder.answer)))
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(recorder.answer)

        do_POST = do_PUT = do_GET = _record  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
