"""Leak tracing: the invisible per-purchase mark in stamped copies, and finding it again.

The mark is 32 characters (A-Z, 2-7): the purchase's uid encrypted with a key of the store
(HMAC of SECRET_KEY and the store's schema name, which never changes), followed by a tag
(a keyed HMAC of the ciphertext). The encryption is a 4-round Feistel network over the
16 bytes of the uid, each round an HMAC-SHA256: a keyed permutation, so a mark reveals
nothing about the purchase (not its uid, not its order among sales) and needs no column
to be looked up: decrypting it gives the uid, which has a unique index.

Only a mark made with this store's key has a valid tag here: another store's mark (Mallory
uploading a copy Alice's buyer leaked) reads as no mark at all, and says nothing of Alice.
payments.stamping.stamp_pdf writes the mark several ways and stamp_marks_find reads them
back; this module only makes and reads it; payments.tracing names the purchase.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from django.conf import settings
from django.db import connection

MARK_LENGTH = 32
_ROUNDS = 4
_TAG_BYTES = 4


def _keys(schema_name: str) -> list[bytes]:
    """The store's key, then the ones from SECRET_KEY_FALLBACKS (marks made before a
    rotation still resolve)."""
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return [
        hmac.new(s.encode(), f"leakmark:{schema_name}".encode(), hashlib.sha256).digest()
        for s in secrets
    ]


def _round(key: bytes, number: int, half: bytes) -> bytes:
    return hmac.new(key, bytes([number]) + half, hashlib.sha256).digest()[:8]


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _encrypt(key: bytes, block: bytes) -> bytes:
    left, right = block[:8], block[8:]
    for number in range(_ROUNDS):
        left, right = right, _xor(left, _round(key, number, right))
    return left + right


def _decrypt(key: bytes, block: bytes) -> bytes:
    left, right = block[:8], block[8:]
    for number in reversed(range(_ROUNDS)):
        left, right = _xor(right, _round(key, number, left)), left
    return left + right


def _tag(key: bytes, ciphertext: bytes) -> bytes:
    return hmac.new(key, b"tag" + ciphertext, hashlib.sha256).digest()[:_TAG_BYTES]


def mark_for(purchase_uid: uuid.UUID, *, schema_name: str | None = None) -> str:
    """The mark of a purchase of the active store (or of `schema_name`'s)."""
    key = _keys(schema_name or connection.schema_name)[0]
    ciphertext = _encrypt(key, purchase_uid.bytes)
    return base64.b32encode(ciphertext + _tag(key, ciphertext)).decode()


def uid_from_mark(mark: str, *, schema_name: str | None = None) -> uuid.UUID | None:
    """The purchase uid in a mark made by this store, or None (another store's, damaged,
    or not a mark)."""
    if len(mark) != MARK_LENGTH:
        return None
    try:
        raw = base64.b32decode(mark)
    except ValueError:  # binascii.Error is a ValueError
        return None
    ciphertext, tag = raw[:16], raw[16:]
    for key in _keys(schema_name or connection.schema_name):
        if hmac.compare_digest(tag, _tag(key, ciphertext)):
            return uuid.UUID(bytes=_decrypt(key, ciphertext))
    return None
