"""A local HTTP server standing in for Sentry's ingest: sentry-sdk sends real envelopes to
http://key@127.0.0.1:PORT/1 and the tests read what arrived, byte for byte."""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SentryIngest:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    raw = gzip.decompress(raw)
                elif encoding == "deflate":
                    raw = zlib.decompress(raw)
                with ingest.lock:
                    ingest.bodies.append(raw)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"id": "0"}')

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://public0key@127.0.0.1:{self.port}/1"

    def __enter__(self) -> SentryIngest:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def raw(self) -> bytes:
        with self.lock:
            return b"\n".join(self.bodies)

    def events(self) -> list[dict]:
        """The error events (envelope items of type "event") received so far."""
        found = []
        with self.lock:
            bodies = list(self.bodies)
        for body in bodies:
            lines = body.split(b"\n")
            i = 1  # line 0 is the envelope header
            while i + 1 < len(lines):
                header = json.loads(lines[i] or b"{}")
                payload = lines[i + 1]
                if header.get("type") == "event":
                    found.append(json.loads(payload))
                i += 2
        return found

    def wait_for_events(self, count: int, timeout: float = 20) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            if len(events) >= count:
                return events
            time.sleep(0.1)
        raise AssertionError(f"{len(self.events())} Sentry events arrived, expected {count}")
