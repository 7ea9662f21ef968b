"""Writes on sellers' accounts."""

from __future__ import annotations

from typing import Any

from django.core.mail import EmailMessage
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


def account_email_queue(*, message: EmailMessage) -> None:
    """Send an account email (sign-up, confirmation, password reset) from a worker.

    The request answers without waiting for the mail server, whichever mail it is: the
    sign-up of a new address and of an address that already has an account take the same
    time (sellers.adapters), so the response time does not tell who has an account.
    """
    from .tasks import send_account_email

    alternatives = [
        (content, mimetype) for content, mimetype in getattr(message, "alternatives", [])
    ]
    send_account_email.delay(
        {
            "subject": message.subject,
            "body": message.body,
            "from_email": message.from_email,
            "to": list(message.to),
            "headers": dict(message.extra_headers),
            "alternatives": alternatives,
        }
    )
