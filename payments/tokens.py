"""Download and library tokens: long, random-looking, only their hashes at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.conf import settings


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def grant_token(*, schema: str, purchase_uid: str, salt: str) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(),
        f"grant:{schema}:{purchase_uid}:{salt}".encode(),
        hashlib.sha256,
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_salt() -> str:
    return secrets.token_hex(16)


def random_token() -> str:
    return secrets.token_urlsafe(32)
