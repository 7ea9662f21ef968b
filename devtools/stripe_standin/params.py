"""Decoding Stripe's form-encoded parameters and checking them the way Stripe does.

stripe-python sends v1 requests as `application/x-www-form-urlencoded` with bracket
notation (`line_items[0][price_data][currency]=usd`, `expand[0]=payment_intent`,
`metadata[store]=alice`); browsers and curl may use `expand[]=...`. Everything arrives
as strings, so handlers coerce explicitly and fail with Stripe's own messages
("Missing required param: ...", "Received unknown parameter: ...") so that a mistake in
the app shows up here rather than only against the real API.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit


class StripeError(Exception):
    """An error answered in Stripe's shape: `{"error": {type, code, message, param}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            # Stripe links every coded error to its documentation page.
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def no_such(kind: str, object_id: str, param: str = "id", status: int = 404) -> StripeError:
    return StripeError(
        status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


# --- decoding ---------------------------------------------------------------------------

_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


def _split_key(key: str) -> list[str]:
    """`a[b][0][]` -> ["a", "b", "0", ""] (an empty part means "append")."""
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    parts = [head]
    consumed = 0
    rest = "[" + rest
    for match in _KEY_PART.finditer(rest):
        if match.start() != consumed:
            break
        parts.append(match.group(1))
        consumed = match.end()
    if consumed != len(rest):
        # Malformed brackets: treat the whole thing as a flat key, as Rack/Stripe would
        # then complain about an unknown parameter with that literal name.
        return [key]
    return parts


def _listify(node: Any) -> Any:
    """Turn dicts keyed "0", "1", ... into lists, recursively."""
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def decode_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Build the nested dict/list structure Stripe's server sees from flat form pairs."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        node: dict[str, Any] = root
        for depth, part in enumerate(parts):
            if part == "":
                # `x[]` appends: give it the next free numeric index.
                part = str(len(node))
            last = depth == len(parts) - 1
            if last:
                if isinstance(node.get(part), dict):
                    raise StripeError(
                        400, f"Invalid value for {key}: it is also a hash.", param=key
                    )
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise StripeError(
                        400, f"Invalid hash for {parts[0]}: conflicting values.", param=parts[0]
                    )
                node = child
    return _listify(root)


def decode_query(query: str) -> dict[str, Any]:
    return decode_pairs(parse_qsl(query, keep_blank_values=True))


# --- coercion ---------------------------------------------------------------------------


def as_str(value: Any, param: str) -> str:
    if isinstance(value, str):
        return value
    raise StripeError(400, f"Invalid string: {param} must be a string.", param=param)


def as_int(value: Any, param: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
        return int(value)
    raise StripeError(400, f"Invalid integer: {value}", param=param)


def as_bool(value: Any, param: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise StripeError(400, f"Invalid boolean: {value}", param=param)


def as_hash(value: Any, param: str) -> dict[str, Any]:
    if value == "":
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        # A hash whose keys all happen to be digits was listified; give it back its keys.
        return {str(i): v for i, v in enumerate(value)}
    raise StripeError(400, f"Invalid object: {param} must be a hash.", param=param)


def as_list(value: Any, param: str) -> list[Any]:
    if value == "":
        return []
    if isinstance(value, list):
        return value
    raise StripeError(400, f"Invalid array: {param} must be an array.", param=param)


def as_url(value: Any, param: str) -> str:
    text = as_str(value, param)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in text:
        raise StripeError(400, "Not a valid URL", code="url_invalid", param=param)
    return text


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def as_email(value: Any, param: str) -> str:
    text = as_str(value, param).strip()
    if not _EMAIL.match(text):
        raise StripeError(400, f"Invalid email address: {text}", code="email_invalid", param=param)
    return text


def metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """Stripe's metadata rules: <= 50 keys, key <= 40 chars, value <= 500 chars, strings."""
    data = as_hash(value, param)
    out: dict[str, str] = {}
    for key, item in data.items():
        if isinstance(item, dict | list):
            raise StripeError(
                400,
                f"Invalid value for {param}[{key}]: metadata values must be strings.",
                param=f"{param}[{key}]",
            )
        if len(key) > 40:
            raise StripeError(
                400,
                "Metadata keys can have a maximum length of 40 characters.",
                param=f"{param}[{key}]",
            )
        if len(item) > 500:
            raise StripeError(
                400,
                "Metadata values can have a maximum length of 500 characters.",
                param=f"{param}[{key}]",
            )
        if item != "":  # an empty string unsets a key
            out[key] = item
    if len(out) > 50:
        raise StripeError(400, "Metadata can have a maximum of 50 keys.", param=param)
    return out


def check_known(params: dict[str, Any], allowed: set[str], prefix: str = "") -> None:
    """Reject parameters the endpoint does not have, like Stripe does (catches typos)."""
    for key in params:
        if key not in allowed:
            name = f"{prefix}[{key}]" if prefix else key
            raise StripeError(400, f"Received unknown parameter: {name}", param=name)


def expand_list(params: dict[str, Any]) -> list[str]:
    raw = params.get("expand")
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [as_str(item, "expand") for item in items]
