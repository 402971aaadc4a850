"""Base of the bank and Esplora fakes: a stdlib HTTP server on 127.0.0.1 in a thread.

Subclasses implement :meth:`FakeHttp.route`; tests queue faults that replace the next
matching replies (status codes, HTML error pages, delays, raw bodies). Kept separate from
the exchange fakes so the two sets evolve independently.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
)


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body or "null")


@dataclass
class Resp:
    status: int = 200
    body: Any = None
    """JSON-able value (Decimals become numbers), or ``str`` sent as is."""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Fault:
    path: str
    resp: Resp
    times: int = 1


def dumps(obj: Any) -> str:
    """JSON with Decimals written as exact number literals (as real APIs send them)."""
    literals: list[str] = []

    def conv(o: Any) -> Any:
        if isinstance(o, Decimal):
            literals.append(format(o, "f"))
            return f"@@{len(literals) - 1}@@"
        if isinstance(o, dict):
            return {k: conv(v) for k, v in o.items()}
        if isinstance(o, list):
            return [conv(v) for v in o]
        return o

    text = json.dumps(conv(obj))
    return re.sub(r'"@@(\d+)@@"', lambda m: literals[int(m.group(1))], text)


class FakeHttp:
    """A threaded HTTP server with a request log and queued faults."""

    def __init__(self) -> None:
        self.requests: list[Req] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self.server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FakeHttp:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fault(self, path: str, resp: Resp, times: int = 1) -> None:
        """Replace the next ``times`` replies to paths containing ``path``."""
        with self.lock:
            self.faults.append(Fault(path, resp, times))

    def _take_fault(self, path: str) -> Resp | None:
        with self.lock:
            for f in self.faults:
                if f.times > 0 and f.path in path:
                    f.times -= 1
                    return f.resp
        return None

    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length).decode() if length else ""
        req = Req(method, split.path, dict(parse_qsl(split.query)), dict(h.headers.items()), body)
        with self.lock:
            self.requests.append(req)
        resp = self._take_fault(req.path) or self.route(req)
        if resp.delay:
            time.sleep(resp.delay)
        data = (resp.body if isinstance(resp.body, str) else dumps(resp.body)).encode()
        try:
            h.send_response(resp.status)
            h.send_header("Content-Type", resp.content_type)
            h.send_header("Content-Length", str(len(data)))
            for k, v in resp.headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route(self, req: Req) -> Resp:
        raise NotImplementedError

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


def html(status: int = 502) -> Resp:
    return Resp(status, HTML_PAGE, "text/html")
