"""Fake exchange HTTP servers for tests: real wire formats, real signatures, fault knobs.

Each fake (``exchange_binance``, ``exchange_kraken``, ``exchange_coinbase``) subclasses
:class:`FakeExchange`: a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (port 0 by default)
running in a background thread, with a deterministic dataset (amounts as Decimal strings)
and knobs that inject faults into the next matching request. The *unmodified* ccxt
library talks to it through ``urls['api']`` overrides, so these servers must look like the
real exchange: paths, parameters, pagination, error bodies and request signing.

Every fake is also a standalone process for crash tests::

    python -m tests.fakes.exchange_binance --port 0 --rows 20000 --delay-ms 5

which prints ``PORT <n>`` on its first stdout line and serves until killed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><h1>502 Bad Gateway</h1><p>cloudflare</p></body></html>"
)


@dataclass
class Request:
    """What the fake saw: for assertions on paths and parameters."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    raw_query: str
    body: str


@dataclass
class Reply:
    status: int
    body: str
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """One injected fault: applies to requests whose path ends with ``path`` (or any path).

    ``kind``: ``status`` (reply ``status`` with the exchange's error body), ``html`` (an HTML
    error page with ``status``), ``missing`` (drop ``field`` from rows), ``number`` (send
    ``field`` as a JSON number), ``endless`` (pagination never ends), ``slow`` (sleep
    ``delay`` seconds before replying), ``huge`` (pad the page far beyond the limit).
    ``times``: how many matching requests it affects (``None``: all).
    """

    kind: str
    path: str = ""
    status: int = 500
    field: str = ""
    delay: float = 0.0
    times: int | None = 1


def dec(value: Decimal | str) -> str:
    """Exchange-style amount text: plain notation, no exponent."""
    return format(Decimal(value), "f")


class FakeExchange:
    """Base of the fakes: HTTP plumbing, fault injection, request log, CLI."""

    name = "fake"

    def __init__(self, *, delay_ms: int = 0) -> None:
        self.delay = delay_ms / 1000
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.lock = threading.RLock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeExchange:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers+body are two writes: avoid 40 ms stalls

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> FakeExchange:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- faults -------------------------------------------------------------------------

    def add_fault(self, kind: str, path: str = "", **kw: Any) -> Fault:
        fault = Fault(kind=kind, path=path, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, path: str, kinds: tuple[str, ...]) -> Fault | None:
        """The first live fault of one of ``kinds`` for ``path``; consumes one use."""
        with self.lock:
            for fault in self.faults:
                if fault.kind in kinds and path.endswith(fault.path) and fault.times != 0:
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    # -- HTTP ---------------------------------------------------------------------------

    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length).decode() if length else ""
        form = dict(parse_qsl(body, keep_blank_values=True)) if body and body[0] != "{" else {}
        req = Request(
            method=method,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            form=form,
            headers={k: v for k, v in h.headers.items()},
            raw_query=split.query,
            body=body,
        )
        with self.lock:
            self.requests.append(req)
        if self.delay:
            time.sleep(self.delay)
        slow = self.take_fault(req.path, ("slow",))
        if slow is not None:
            time.sleep(slow.delay)
        fault = self.take_fault(req.path, ("status", "html"))
        if fault is not None and fault.kind == "html":
            reply = Reply(fault.status, HTML_ERROR_PAGE, "text/html")
        elif fault is not None:
            reply = self.error_reply(fault.status, req)
        else:
            try:
                reply = self.route(req)
            except Exception as exc:  # a bug in the fake: make it loud in the test output
                import traceback

                traceback.print_exc()
                reply = Reply(500, json.dumps({"fake_bug": repr(exc)}))
        data = reply.body.encode()
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", reply.content_type)
            h.send_header("Content-Length", str(len(data)))
            for k, v in reply.headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # client timed out and left
            pass

    # -- to override --------------------------------------------------------------------

    def route(self, req: Request) -> Reply:
        raise NotImplementedError

    def error_reply(self, status: int, req: Request) -> Reply:
        return Reply(status, json.dumps({"error": f"HTTP {status}"}))

    def mangle_rows(self, path: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply ``missing``/``number`` faults to a page of row dicts (copies)."""
        fault = self.take_fault(path, ("missing", "number"))
        if fault is None or not rows:
            return rows
        rows = [dict(r) for r in rows]
        target = rows[len(rows) // 2]
        if fault.kind == "missing":
            target.pop(fault.field, None)
        else:
            target[fault.field] = float(target[fault.field])
        return rows


def json_dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def cli_main(factory: Any, argv: list[str] | None = None) -> None:
    """``python -m tests.fakes.exchange_X --port N --rows R --delay-ms D``: serve forever."""
    parser = argparse.ArgumentParser(description=f"fake {factory.name} exchange server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args(argv)
    fake = factory(rows=args.rows, delay_ms=args.delay_ms).start(args.port)
    print(f"PORT {fake.port}", flush=True)
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()
