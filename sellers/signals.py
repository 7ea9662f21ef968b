from __future__ import annotations

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from .services import user_sessions_end


@receiver(user_logged_out)
def sessions_end_on_logout(sender, request, user, **kwargs) -> None:
    """Signing out on one host signs the user out on every host (DESIGN.md, "Requests")."""
    if user is not None and user.pk is not None:
        user_sessions_end(user=user)
