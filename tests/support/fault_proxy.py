"""An HTTPS proxy in front of the Cosmos DB test server that injects faults:
an HTTP status, a dropped connection, or a delayed answer, on the next N
document reads or writes. Everything else passes through unchanged, except
the account document (``GET /``), whose endpoints are rewritten to the proxy
so the SDK keeps talking through it.

A faulted write is first forwarded (the server applies it), so a retry must
be harmless: that is what makes the store's writes safe to retry.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from backends.devservers import COSMOS_SERVER_DIR, free_port

CERTIFICATE = COSMOS_SERVER_DIR / "node_modules" / "@vercel" / "cosmosdb-server"  # its self-signed pair
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def request_kind(method: str, path: str, headers) -> str:
    """``read`` or ``write`` for document requests, ``other`` for the rest."""
    path = path.split("?")[0].rstrip("/")
    on_docs = "/docs" in path
    if not on_docs:
        return "other"
    if method == "GET" or str(headers.get("x-ms-documentdb-isquery", "")).lower() == "true":
        return "read"
    return "write"


@dataclass
class Fault:
    kind: str  # "read" or "write"
    action: int | str  # an HTTP status, "drop", or "delay"
    times: int
    retry_after_ms: int = 1
    delay: float = 0.0


@dataclass
class Seen:
    kind: str
    method: str
    path: str
    action: int | str | None
    at: float = field(default_factory=time.monotonic)


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"cosmos://127.0.0.1:{self.port}"

    def inject(self, kind: str, action: int | str, times: int = 1, **options) -> None:
        with self.lock:
            self.faults.append(Fault(kind, action, times, **options))

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.seen.clear()

    def injected(self, kind: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.kind == kind and s.action is not None]

    def _take(self, kind: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.kind == kind and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _record(self, seen: Seen) -> None:
        with self.lock:
            self.seen.append(seen)

    def start(self) -> "FaultProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = request_kind(self.command, self.path, self.headers)
                fault = proxy._take(kind) if kind != "other" else None
                proxy._record(Seen(kind, self.command, self.path, fault and fault.action))
                if fault and fault.action == "delay":
                    time.sleep(fault.delay)
                status, headers, answer = proxy._forward(self.command, self.path, self.headers, body)
                if fault and fault.action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault and isinstance(fault.action, int):
                    status = fault.action
                    answer = json.dumps({"code": http.client.responses.get(status, "Error"),
                                         "message": f"injected {status} by the test proxy"}).encode()
                    headers = [("Content-Type", "application/json"),
                               ("x-ms-retry-after-ms", str(fault.retry_after_ms)),
                               ("x-ms-activity-id", "00000000-0000-0000-0000-000000000000")]
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = relay

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(CERTIFICATE / "cert.pem", CERTIFICATE / "key.pem")
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, list, bytes]:
        upstream = http.client.HTTPSConnection("127.0.0.1", self.upstream_port, timeout=30,
                                               context=ssl._create_unverified_context())
        try:
            upstream.request(method, path, body=body or None,
                             headers={k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS})
            response = upstream.getresponse()
            answer = response.read()
            if method == "GET" and path.split("?")[0] == "/":  # the account names its endpoints
                answer = answer.replace(f":{self.upstream_port}".encode(), f":{self.port}".encode())
            return response.status, response.getheaders(), answer
        finally:
            upstream.close()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
