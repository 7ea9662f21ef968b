"""Trace a leaked copy: find the marks in it (payments.stamping), keep those made with this
store's key (payments.leaks), name their purchases."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files import File

from catalog.pdf import PdfRejected, pdf_check_name, pdf_validate

from .leaks import uid_from_mark
from .models import Purchase
from .stamping import stamp_marks_find


@dataclass(frozen=True)
class Trace:
    """What a leaked copy says: the purchases it came from, empty when it holds no mark of
    this store (more than one: pages of several copies put together)."""

    purchases: list[Purchase]


def leak_trace(file: File) -> Trace:
    """Read an uploaded copy under the product upload's checks and name its purchase."""
    try:
        pdf_check_name(getattr(file, "name", "") or "")
        pdf_validate(file)
    except PdfRejected as exc:
        raise ValidationError({"file": exc.message}, code=exc.code) from exc
    file.seek(0)
    uids = []
    for mark in stamp_marks_find(file):
        uid = uid_from_mark(mark)
        if uid is not None and uid not in uids:
            uids.append(uid)
    purchases = {p.uid: p for p in Purchase.objects.select_related("product").filter(uid__in=uids)}
    return Trace(purchases=[purchases[uid] for uid in uids if uid in purchases])
