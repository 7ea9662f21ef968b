"""The buyer-stamped copy: "Licensed to <email>" on page 1, made once per purchase.

The overlay is merged onto the first page of a clone of the original, so bookmarks,
metadata and every other page stay as they were.

Each copy also carries the purchase's invisible mark (payments.leaks), written three
independent ways, so removing one leaves the others:

1. in the content of every page, as text in rendering mode 3 (neither filled nor
   stroked: invisible, but text): one small content stream shared by all pages. Survives
   re-saves by pypdf, qpdf/pikepdf, and the "optimize"/"linearize" options of most tools,
   which keep content streams; page extraction keeps it on every page it keeps.
2. in every page's `/PieceInfo` (the page-level dictionary PDF sets aside for an
   application's private data; tools that do not know the application keep it).
3. in the document's Info dictionary (`/LicenseMark`): the first thing a metadata
   scrubber removes, kept because it costs nothing.

stamp_marks_find reads them all back (what it finds still has to be resolved, with the
store's key, by payments.tracing). Tested to survive: re-saves by pypdf and by qpdf
(pikepdf: object streams, recompression, linearization), and cutting pages out.

What removes it (not hidden from anyone who knows the scheme):
- anything that turns pages into pictures: printing to an image PDF, scanning,
  screenshots; OCR of those makes new text without the mark;
- tools that drop hidden content: Acrobat's "Remove Hidden Information"/"Sanitize"
  (hidden text, private data, metadata all at once), Ghostscript with text filtered out,
  any script that deletes text drawn in mode 3, /PieceInfo and /Info;
- copying the text out into another document.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from typing import IO

from django.core.files.base import ContentFile
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    StreamObject,
    TextStringObject,
)

from catalog.storage import private_storage
from tenants import cells

from .leaks import mark_for
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


_MARK_FONT = "/FLicMark"
_PIECE = "/ProductPurchase"


def _resolved(obj):
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def _inherited_resources(page) -> DictionaryObject:
    node, depth = page, 0
    while node is not None and depth < 64:
        resources = _resolved(node.get("/Resources"))
        if isinstance(resources, DictionaryObject):
            return resources
        node, depth = _resolved(node.get("/Parent")), depth + 1
    return DictionaryObject()


def _write_mark(writer: PdfWriter, mark: str) -> None:
    """The mark in every page's content (invisible text) and /PieceInfo, and in /Info."""
    text = mark.encode("ascii")
    content = DecodedStreamObject()
    # Its own q…Q, a reset text matrix, 1 pt, rendering mode 3: drawn nowhere.
    content.set_data(
        b"q BT 3 Tr " + _MARK_FONT.encode() + b" 1 Tf 1 0 0 1 2 2 Tm (" + text + b") Tj ET Q"
    )
    content_ref = writer._add_object(content.flate_encode())
    font_ref = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    ours = DictionaryObject(
        {
            NameObject("/LastModified"): TextStringObject(
                time.strftime("D:%Y%m%d%H%M%SZ", time.gmtime())
            ),
            NameObject("/Private"): TextStringObject(mark),
        }
    )
    piece_ref = writer._add_object(DictionaryObject({NameObject(_PIECE): ours}))
    for page in writer.pages:
        # Copies of the (possibly shared or inherited) dictionaries, with the mark's font.
        resources = DictionaryObject(_inherited_resources(page))
        fonts = DictionaryObject(_resolved(resources.get("/Font")) or {})
        fonts[NameObject(_MARK_FONT)] = font_ref
        resources[NameObject("/Font")] = fonts
        page[NameObject("/Resources")] = resources
        contents = _resolved(page.get("/Contents"))
        if isinstance(contents, ArrayObject):
            streams = list(contents)
        elif contents is None:
            streams = []
        else:
            streams = [page.raw_get("/Contents")]
        page[NameObject("/Contents")] = ArrayObject([*streams, content_ref])
        pieces = _resolved(page.get("/PieceInfo"))
        if isinstance(pieces, DictionaryObject):  # the authoring tool's own, and ours
            pieces = DictionaryObject(pieces)
            pieces[NameObject(_PIECE)] = ours
            page[NameObject("/PieceInfo")] = pieces
        else:
            page[NameObject("/PieceInfo")] = piece_ref
    writer.add_metadata({"/LicenseMark": mark})


def stamp_pdf(source: bytes, *, email: str, mark: str = "") -> bytes:
    """The buyer's copy: their email on page 1 and, with `mark`, the purchase's invisible
    mark (payments.leaks.mark_for) on every page."""
    reader = PdfReader(io.BytesIO(source))
    writer = PdfWriter(clone_from=reader)
    first = writer.pages[0]
    box = first.mediabox
    first.merge_page(_overlay(float(box.width), float(box.height), f"Licensed to {email}"))
    if mark:
        _write_mark(writer, mark)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


_MARK_RE = re.compile(rb"(?<![A-Z2-7])[A-Z2-7]{32}(?![A-Z2-7])")
FIND_MAX_SECONDS = 20
FIND_TEXT_PAGES = 20


def stamp_marks_find(file: IO[bytes]) -> list[str]:
    """Every string in a PDF that could be a purchase mark, most likely first: from the
    Info dictionary, the pages' /PieceInfo, their content streams (all pages, within
    FIND_MAX_SECONDS), then, when none of these had one, their extracted text (the first
    FIND_TEXT_PAGES pages, for tools that rewrote the strings, say as hex). Candidates
    only: payments.tracing keeps those with this store's tag. `file` should have passed
    catalog.pdf.pdf_validate."""
    found: dict[str, None] = {}

    def add(data: bytes | str) -> None:
        raw = data.encode("latin-1", "replace") if isinstance(data, str) else data
        for match in _MARK_RE.finditer(raw):
            found.setdefault(match.group().decode("ascii"), None)

    file.seek(0)
    reader = PdfReader(file)
    deadline = time.monotonic() + FIND_MAX_SECONDS
    info = reader.metadata
    value = info.get("/LicenseMark") if info is not None else None
    if isinstance(value, str):
        add(value)
    for page in reader.pages:
        if time.monotonic() > deadline:
            break
        piece = _resolved(page.get("/PieceInfo"))
        if isinstance(piece, DictionaryObject):
            for entry in piece.values():
                private = (
                    _resolved(_resolved(entry).get("/Private"))
                    if isinstance(_resolved(entry), DictionaryObject)
                    else None
                )
                if isinstance(private, str):
                    add(private)
        contents = _resolved(page.get("/Contents"))
        streams = contents if isinstance(contents, ArrayObject) else [contents]
        for stream in streams:
            stream = _resolved(stream)
            if isinstance(stream, StreamObject):
                add(stream.get_data())
    if found:
        return list(found)
    for page in list(reader.pages)[:FIND_TEXT_PAGES]:
        if time.monotonic() > deadline:
            break
        add(page.extract_text())
    return list(found)


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
        data = stamp_pdf(source, email=purchase.buyer_email, mark=mark_for(purchase.uid))
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
    with cells.atomic():
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
