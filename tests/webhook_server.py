"""A real HTTP server in a thread that plays a webhook receiver: it records what it was sent and
answers as told (a status code per request, or hanging until released, to make a client time out)."""

from __future__ import annotations

import json
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answers, in order; then 200
    hang: bool = False  # never answer until released (the client times out)
    drip: bool = False  # answer 200 with a long body, one byte every 0.2 s: no single read ever times out
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@contextmanager
def receiver(**behaviour: Any) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    rec = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook", **behaviour)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                rec.received.append(json.loads(body))
                rec.headers.append(dict(self.headers))
                status = rec.statuses.pop(0) if rec.statuses else 200
            if rec.hang:
                rec.release.wait(30)
                return
            if rec.drip:
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                while not rec.release.wait(0.2):
                    try:
                        self.wfile.write(b"x")
                        self.wfile.flush()
                    except OSError:
                        return
                return
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", rec.url + "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def unreachable_url() -> str:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"
