"""What a route hands back to the HTTP layer, independent of the socket."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    # Stripe pretty-prints its JSON; matching it makes curl output readable too.
    body = json.dumps(data, indent=2).encode()
    return Response(status, body, "application/json", dict(headers or {}))


def html_response(status: int, html: str) -> Response:
    return Response(status, html.encode(), "text/html; charset=utf-8")


def redirect(url: str) -> Response:
    return Response(302, b"", "text/plain", {"Location": url})
