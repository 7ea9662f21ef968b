"""Records the tenants app asks for but does not own, supplied by an app above it.

A platform admin's read-only look at a store's dashboard must land in the audit log,
which the console owns (console.models.AuditEntry). The console sits above tenants
(DESIGN.md: dependencies flow one way), so tenants cannot import it; instead the console
registers a recorder at start-up, in its AppConfig.ready():

    from tenants.hooks import register_admin_view_recorder
    register_admin_view_recorder(record_store_view)

A recorder takes the admin, the store and the request (path, method) and writes the entry.
Without a recorder the read-only view is refused: an admin's look that nobody records
does not happen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

AdminViewRecorder = Callable[..., Any]

_recorder: AdminViewRecorder | None = None


def register_admin_view_recorder(recorder: AdminViewRecorder | None) -> AdminViewRecorder | None:
    """Install the recorder (None removes it); returns the one it replaces."""
    global _recorder
    previous, _recorder = _recorder, recorder
    return previous


def admin_view_record(*, actor: Any, store: Any, request: HttpRequest) -> bool:
    """Record one page an admin viewed; False when nothing can record it."""
    if _recorder is None:
        return False
    _recorder(actor=actor, store=store, path=request.get_full_path()[:200], method=request.method)
    return True
