"""A local HTTP server speaking like the list publishers, with injectable faults.

Serves real files with ETag / Last-Modified / Accept-Ranges, answers conditional GETs with
304 and ranged GETs with 206. Faults are queued per path and consumed one per request:
"500", "timeout" (stalls past the client's read timeout), "truncate" (promises the full
Content-Length, sends half, closes), "html" (an error page as text/html), "304".
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import defaultdict, deque
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ListPublisherStub:
    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.faults: dict[str, deque[str]] = defaultdict(deque)
        self.requests: list[dict] = []
        self.accept_ranges = True
        self.stall_seconds = 2.0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                stub._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def serve(self, path: str, data: bytes, content_type: str = "application/xml") -> None:
        self.files[path] = (data, content_type)

    def fault(self, path: str, *faults: str) -> None:
        self.faults[path].extend(faults)

    def __enter__(self) -> ListPublisherStub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        self.requests.append({"path": path, "headers": dict(h.headers)})
        if path not in self.files:
            return self._send(h, 404, b"not found", "text/plain")
        data, ctype = self.files[path]
        etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
        modified = formatdate(1_700_000_000 + len(data), usegmt=True)
        fault = self.faults[path].popleft() if self.faults[path] else ""
        if fault == "500":
            return self._send(h, 500, b"internal error", "text/plain")
        if fault == "html":
            return self._send(
                h, 200, b"<html><body>Service unavailable</body></html>", "text/html; charset=utf-8"
            )
        if fault == "timeout":
            time.sleep(self.stall_seconds)
            return self._send(h, 503, b"too late", "text/plain")
        if fault == "304" or h.headers.get("If-None-Match") == etag:
            return self._send(h, 304, b"", None, etag=etag, modified=modified)
        headers = {"ETag": etag, "Last-Modified": modified}
        if self.accept_ranges:
            headers["Accept-Ranges"] = "bytes"
        rng = h.headers.get("Range", "")
        if (
            rng.startswith("bytes=")
            and self.accept_ranges
            and h.headers.get("If-Range", etag) in (etag, modified)
        ):
            start = int(rng[6:].split("-")[0])
            body = data[start:]
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            status = 206
        else:
            body, status = data, 200
        if fault == "truncate":
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            return None
        return self._send(
            h, status, body, ctype, **{k.lower().replace("-", "_"): v for k, v in headers.items()}
        )

    @staticmethod
    def _send(h, status: int, body: bytes, ctype: str | None, **headers: str) -> None:
        h.send_response(status)
        if ctype:
            h.send_header("Content-Type", ctype)
        names = {
            "etag": "ETag",
            "last_modified": "Last-Modified",
            "modified": "Last-Modified",
            "accept_ranges": "Accept-Ranges",
            "content_range": "Content-Range",
        }
        for key, value in headers.items():
            h.send_header(names.get(key, key), value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if body:
            h.wfile.write(body)
