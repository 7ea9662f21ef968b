"""Writes on sellers' accounts."""

from __future__ import annotations

from typing import Any

from django.db.models import F

from .models import User


def user_sessions_end(*, user: Any) -> int:
    """End every session of `user` on every host — the main domain, store subdomains and
    hand-off sessions on custom domains — by moving to a new session epoch (see
    User.get_session_auth_hash). Returns the new epoch."""
    User.objects.filter(pk=user.pk).update(session_epoch=F("session_epoch") + 1)
    epoch = User.objects.values_list("session_epoch", flat=True).get(pk=user.pk)
    user.session_epoch = epoch
    return epoch
