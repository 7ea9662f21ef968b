"""The buyer-stamped copy: "Licensed to <email>" on page 1, made once per purchase.

The overlay is merged onto the first page of a clone of the original, so bookmarks,
metadata and every other page stay as they were.
"""

from __future__ import annotations

import hashlib
import io

from django.core.files.base import ContentFile
from django.db import transaction
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from catalog.storage import private_storage

from .models import Purchase, StampedCopy


def _pdf_string(text: str) -> bytes:
    raw = text.encode("latin-1", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _overlay(width: float, height: float, text: str) -> PageObject:
    page = PageObject.create_blank_page(width=width, height=height)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/FStamp"): font})}
    )
    stream = DecodedStreamObject()
    stream.set_data(
        b"q 0.35 0.35 0.35 rg BT /FStamp 9 Tf 36 18 Td (" + _pdf_string(text) + b") Tj ET Q"
    )
    page[NameObject("/Contents")] = stream
    return page


def stamp_pdf(source: bytes, *, email: str) -> bytes:
    reader = PdfReader(io.BytesIO(source))
    writer = PdfWriter(clone_from=reader)
    first = writer.pages[0]
    box = first.mediabox
    first.merge_page(_overlay(float(box.width), float(box.height), f"Licensed to {email}"))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def stamped_copy_make(*, purchase_id: int) -> str:
    """Make every stamped copy of the purchase that is not ready for its grant's version
    (one per file of a stamped product). "made" if one was made, else "ready"."""
    copies = list(
        StampedCopy.objects.filter(purchase_id=purchase_id)
        .select_related("grant__version", "grant__slot__current", "version")
        .order_by("id")
    )
    if not copies:  # a grant made by hand, without grant_files
        purchase = Purchase.objects.get(pk=purchase_id)
        copy, _ = StampedCopy.objects.get_or_create(purchase=purchase, grant=purchase.grant)
        copies = [copy]
    made = False
    for copy in copies:
        made = _copy_make(copy) == "made" or made
    return "made" if made else "ready"


def _source(copy: StampedCopy) -> tuple[int | None, str]:
    """The version a copy is made from (its grant's) and its stored name."""
    grant = copy.grant
    version = None
    if grant is not None:
        version = grant.version or (grant.slot.current if grant.slot else None)
    if version is not None:
        return version.pk, version.file.name
    purchase = Purchase.objects.select_related("product").get(pk=copy.purchase_id)
    return None, purchase.product.file.name


def _copy_make(copy: StampedCopy) -> str:
    version_id, source_name = _source(copy)
    if copy.state == StampedCopy.State.READY and copy.file and copy.version_id == version_id:
        return "ready"
    purchase = Purchase.objects.get(pk=copy.purchase_id)
    storage = private_storage()
    try:
        with storage.open(source_name, "rb") as handle:
            source = handle.read()
        data = stamp_pdf(source, email=purchase.buyer_email)
    except Exception as exc:
        StampedCopy.objects.filter(pk=copy.pk).update(
            state=StampedCopy.State.FAILED, error=str(exc)[:300]
        )
        raise
    # One name per purchase and version, written under the row lock: a run killed after
    # writing and before recording left its file at this very name, and is replaced, not
    # orphaned.
    name = (
        f"stamped/{purchase.uid}-{version_id}.pdf" if version_id else f"stamped/{purchase.uid}.pdf"
    )
    with transaction.atomic():
        locked = StampedCopy.objects.select_for_update().get(pk=copy.pk)
        if (
            locked.state == StampedCopy.State.READY
            and locked.file
            and locked.version_id == version_id
        ):
            return "ready"  # a concurrent run finished first; keep its copy
        if storage.exists(name):
            storage.delete(name)
        locked.file = storage.save(name, ContentFile(data))
        locked.state = StampedCopy.State.READY
        locked.version_id = version_id
        locked.source_sha256 = hashlib.sha256(source).hexdigest()
        locked.error = ""
        locked.save()
    return "made"
