"""The sandbox CRM's HTTP server: one threaded server on 127.0.0.1 that routes requests
to a CRM emulation, counts them, and injects faults on demand."""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, overload
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    #: the request target as sent (path and query string), for limits on its length
    target: str = ""

    @overload
    def arg(self, name: str) -> str | None: ...
    @overload
    def arg(self, name: str, default: str) -> str: ...
    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter, or `default`."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a body that is not JSON (HTML error pages, CSV)


Handler = Callable[[Request, re.Match], Response]
#: the connection is closed with no response at all (a dropped connection)
DROP = Response(0)


@dataclass
class Faults:
    """What the sandbox does wrong on purpose, for reliability tests."""

    rate_429: float = 0.0  # share of requests answered 429
    rate_5xx: float = 0.0  # share answered with one of `statuses`
    #: the error statuses rate_5xx picks from (HubSpot also documents 423, 477, 521-524)
    statuses: tuple[int, ...] = (502, 503)
    #: share whose connection drops with no response: half before the request is
    #: handled, half after (done, but the client never hears so)
    rate_drop: float = 0.0
    delay_s: float = 0.0  # added to every response
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


class Emulation:
    """A CRM API: its routes, and how it answers rate limiting and faults."""

    name = "crm"
    routes: list[tuple[str, re.Pattern, Handler]]

    def authorize(self, request: Request) -> Response | None:
        return None

    def too_long(self, request: Request) -> Response | None:
        """The answer to a request whose URI or headers are longer than the CRM takes."""
        return None

    def throttled(self, request: Request) -> Response:
        return Response(429, {"message": "rate limited"})

    def server_error(self, request: Request, status: int) -> Response:
        return Response(status, {"message": "unavailable"})

    def rate_headers(self, request: Request) -> dict[str, str]:
        return {}

    def admin(self, request: Request) -> Response | None:
        """/__sandbox/ requests that act as a CRM user would (not API requests)."""
        return None

    def rate_limit(self, request: Request) -> Response | None:
        """A 429 when the request is over the CRM's limits, else None."""
        return None

    def not_found(self, request: Request) -> Response:
        return Response(404, {"message": f"no route for {request.method} {request.path}"})


class BurstLimiter:
    """A fixed window of `window_s` seconds allowing `limit` requests (HubSpot's burst
    limit is per 10-second window; see the HubSpot emulation for the figures)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self.lock = threading.Lock()
        self.start, self.used = time.monotonic(), 0

    def take(self) -> tuple[bool, int, float]:
        """(allowed, remaining, seconds until the window resets)."""
        with self.lock:
            now = time.monotonic()
            if now - self.start >= self.window_s:
                self.start, self.used = now, 0
            reset = self.window_s - (now - self.start)
            if self.used >= self.limit:
                return False, 0, reset
            self.used += 1
            return True, self.limit - self.used, reset


class SandboxServer:
    """Serve one emulation on 127.0.0.1 (port 0 picks a free port)."""

    def __init__(self, emulation: Emulation, port: int = 0, faults: Faults | None = None) -> None:
        self.emulation = emulation
        self.faults = faults or Faults()
        self.stats: Counter[str] = Counter()
        self.lock = threading.Lock()
        # Loopback only, always: the sandbox holds no real data but must not be reachable.
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        port = self.httpd.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> SandboxServer:
        # A short poll so stop() returns at once (tests start and stop many servers).
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="sandbox", daemon=True)
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def count(self, key: str) -> None:
        with self.lock:
            self.stats[key] += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            by_endpoint = {k: v for k, v in sorted(self.stats.items()) if not k.startswith("__")}
            return {"requests": sum(by_endpoint.values()), "by_endpoint": by_endpoint,
                    "throttled": self.stats["__429"], "faults": self.stats["__faults"]}

    def dispatch(self, request: Request) -> Response:
        if request.path == "/__sandbox/stats":
            return Response(200, self.snapshot())
        if request.path == "/__sandbox/reset-stats" and request.method == "POST":
            with self.lock:
                self.stats.clear()
            return Response(204)
        if request.path == "/__sandbox/faults" and request.method == "POST":
            # Faults changed while it runs: a test sets up a CRM at full speed, then slows it.
            body = request.body if isinstance(request.body, dict) else {}
            for name in ("rate_429", "rate_5xx", "rate_drop", "delay_s"):
                if name in body:
                    setattr(self.faults, name, float(body[name]))
            if body.get("statuses"):
                self.faults.statuses = tuple(int(s) for s in body["statuses"])
            return Response(200, {k: getattr(self.faults, k) for k in ("rate_429", "rate_5xx", "rate_drop", "delay_s")})
        if request.path.startswith("/__sandbox/"):
            return self.emulation.admin(request) or Response(404, {"message": "no such sandbox endpoint"})
        emulation = self.emulation
        refused = emulation.too_long(request)
        if refused is not None:
            self.count("__too_long")
            return refused
        for method, pattern, handler in emulation.routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                self.count(f"{method} {pattern.pattern}")
                denied = emulation.authorize(request)
                if denied is not None:
                    return denied
                faults = self.faults
                if faults.rate_429 and faults.rng.random() < faults.rate_429:
                    self.count("__429")
                    self.count("__faults")
                    return emulation.throttled(request)
                if faults.rate_5xx and faults.rng.random() < faults.rate_5xx:
                    self.count("__faults")
                    return emulation.server_error(request, faults.rng.choice(faults.statuses))
                limited = emulation.rate_limit(request)
                if limited is not None:
                    self.count("__429")
                    return limited
                drop = faults.rate_drop and faults.rng.random() < faults.rate_drop
                if drop and faults.rng.random() < 0.5:
                    self.count("__faults")
                    return DROP
                response = handler(request, match)
                if drop:
                    self.count("__faults")
                    return DROP
                response.headers = {**emulation.rate_headers(request), **response.headers}
                return response
        self.count("__unrouted")
        return emulation.not_found(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read their own output
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out as two writes on a kept-alive connection; with
                # Nagle's algorithm and delayed ACKs each response would wait ~40 ms.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw and "json" in (self.headers.get("Content-Type") or "json") else raw
                except ValueError:
                    body = raw
                request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                                  {k.lower(): v for k, v in self.headers.items()}, body, self.path)
                if server.faults.delay_s:
                    time.sleep(server.faults.delay_s)
                try:
                    response = server.dispatch(request)
                except Exception as exc:  # noqa: BLE001 - an emulation bug must look like a 500, not hang the client
                    response = Response(500, {"message": f"sandbox error: {type(exc).__name__}: {exc}"})
                if response is DROP:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if response.raw is not None:
                    payload, ctype = response.raw, response.headers.pop("Content-Type", "text/plain")
                elif response.body is None:
                    payload, ctype = b"", "application/json"
                else:
                    payload, ctype = json.dumps(response.body).encode(), "application/json;charset=utf-8"
                self.send_response(response.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        return _Handler
