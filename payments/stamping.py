"""The buyer-stamped copy: "Licensed to <email>" on page 1, made once per purchase.

The overlay is merged onto the first page of a clone of the original, so bookmarks,
metadata and every other page stay as they were.
"""

from __future__ import annotations

import hashlib
import io

from django.core.files.base import ContentFile
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from catalog.storage import private_storage
from tenants import cells

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
    purchase = Purchase.objects.select_related("product").get(pk=purchase_id)
    copy, _ = StampedCopy.objects.get_or_create(purchase=purchase)
    if copy.state == StampedCopy.State.READY and copy.file:
        return "ready"
    storage = private_storage()
    try:
        with storage.open(purchase.product.file.name, "rb") as handle:
            source = handle.read()
        data = stamp_pdf(source, email=purchase.buyer_email)
    except Exception as exc:
        StampedCopy.objects.filter(pk=copy.pk).update(
            state=StampedCopy.State.FAILED, error=str(exc)[:300]
        )
        raise
    # One name per purchase, written under the row lock: a run killed after writing and
    # before recording left its file at this very name, and is replaced, not orphaned.
    name = f"stamped/{purchase.uid}.pdf"
    with cells.atomic():
        locked = StampedCopy.objects.select_for_update().get(pk=copy.pk)
        if locked.state == StampedCopy.State.READY and locked.file:
            return "ready"  # a concurrent run finished first; keep its copy
        if storage.exists(name):
            storage.delete(name)
        locked.file = storage.save(name, ContentFile(data))
        locked.state = StampedCopy.State.READY
        locked.source_sha256 = hashlib.sha256(source).hexdigest()
        locked.error = ""
        locked.save()
    return "made"
