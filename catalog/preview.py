"""A free preview: a new PDF holding only the pages the seller chose, marked "Preview".

Nothing else of the product's PDF may be reachable from it. pypdf's own page copy
(`PdfWriter.add_page`) follows every reference of a page, and a page can point at the rest
of the book in many ways: its `/Parent` (the page tree, every page), link annotations
(`/Dest`, `/A` to other pages), `/B` article beads, `/StructParents` (the structure tree
with the whole text), a resource dictionary shared by all pages that lists every image and
form of the book, `/Metadata` and `/PieceInfo` carrying whatever the authoring tool kept.
So the preview is built object by object instead:

- a page keeps only what draws it: its boxes, `/Rotate`, `/UserUnit`, `/Group`, its content
  streams and resources. No annotations at all (links, comments, form widgets), no `/AA`,
  no beads, no structure, no thumbnails, no metadata.
- resources keep only the names the content actually uses (`/Im5 Do`, `/F2 Tf`, …; found
  as name tokens in the decoded content, a superset of what is drawn), recursively for
  form XObjects and tiling patterns, which have content of their own.
- every copied object is copied with the same rules: keys that point elsewhere in a
  document (`/Parent`, `/P`, `/Dest`, `/A`, `/AA`, `/StructParent(s)`, `/Metadata`,
  `/PieceInfo`, `/Annots`, `/B`, `/Thumb`) are dropped wherever they appear.
- the document itself is new: a catalog with the page tree and nothing else (no outlines,
  named destinations, AcroForm, attachments, page labels, structure tree), and an Info
  dictionary that only says what it is.

Streams are copied as they are stored (still compressed); the content is decoded only to
find the names it uses, under the same limits as validation (the file passed
catalog.pdf.pdf_validate first).
"""

from __future__ import annotations

import io
import re
from typing import IO

from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
    NullObject,
    NumberObject,
    PdfObject,
    StreamObject,
    TextStringObject,
)

from .pdf import STREAM_MAX_BYTES, _pypdf_limits, _quiet_pypdf

MAX_PREVIEW_PAGES = 3

# What a page keeps (after inheritance: pypdf puts inherited attributes on each page).
_PAGE_KEYS = (
    "/MediaBox",
    "/CropBox",
    "/BleedBox",
    "/TrimBox",
    "/ArtBox",
    "/Rotate",
    "/UserUnit",
    "/Group",
)
# Keys that point elsewhere in a document (or carry content of their own), dropped at every
# level of every copied object.
_DROPPED = frozenset(
    {
        "/Parent",
        "/P",
        "/Dest",
        "/A",
        "/AA",
        "/Annots",
        "/B",
        "/StructParent",
        "/StructParents",
        "/Metadata",
        "/PieceInfo",
        "/Thumb",
        "/OpenAction",
        "/Names",
        "/Outlines",
        "/AcroForm",
        "/EmbeddedFiles",
        "/Ref",  # reference XObjects: a page of another file
    }
)
_RESOURCE_KINDS = (
    "/XObject",
    "/Font",
    "/ExtGState",
    "/ColorSpace",
    "/Pattern",
    "/Shading",
    "/Properties",
)
_NAME_RE = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]*)")
_HEX_RE = re.compile(rb"#([0-9A-Fa-f]{2})")


class PreviewError(ValueError):
    """The pages asked for are not in the file."""


def _resolve(obj):
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def _names_in(data: bytes) -> set[str]:
    """Every name token in a content stream, #xx escapes decoded ("/Im#31" is "/Im1")."""
    found = set()
    for match in _NAME_RE.finditer(data):
        raw = _HEX_RE.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(1))
        found.add("/" + raw.decode("latin-1"))
    return found


def _content_data(contents) -> bytes:
    contents = _resolve(contents)
    if contents is None:
        return b""
    streams = contents if isinstance(contents, ArrayObject) else [contents]
    parts = []
    for stream in streams:
        stream = _resolve(stream)
        if isinstance(stream, StreamObject):
            parts.append(stream.get_data())
    return b"\n".join(parts)


class _Copier:
    """Copies objects of `reader` into `writer` under the rules of the module."""

    def __init__(self, writer: PdfWriter) -> None:
        self.writer = writer
        self.done: dict[tuple[int, int], IndirectObject] = {}

    def copy(self, obj: PdfObject, *, resources_used: set[str] | None = None) -> PdfObject:
        if isinstance(obj, IndirectObject):
            key = (obj.idnum, obj.generation)
            if key in self.done:
                return self.done[key]
            # Reserve the number first: cycles (a form listing itself) end here.
            placeholder = self.writer._add_object(NullObject())
            self.done[key] = placeholder
            target = obj.get_object()
            copied = self._stream(target) if isinstance(target, StreamObject) else self.copy(target)
            self.writer._objects[placeholder.idnum - 1] = copied
            copied.indirect_reference = placeholder
            return placeholder
        if isinstance(obj, StreamObject):  # a stream is always an object of its own
            return self.writer._add_object(self._stream(obj))
        if isinstance(obj, DictionaryObject):
            return self._dictionary(obj)
        if isinstance(obj, ArrayObject):
            return ArrayObject(self.copy(item) for item in obj)
        return obj  # numbers, names, strings, booleans, null: values, not references

    def _dictionary(self, source: DictionaryObject, *, used: set[str] | None = None):
        out = DictionaryObject()
        for key, value in source.items():
            if key in _DROPPED:
                continue
            if key == "/Resources" and used is not None:
                out[NameObject(key)] = self.resources(value, used)
            else:
                out[NameObject(key)] = self.copy(value)
        return out

    def _stream(self, source: StreamObject) -> StreamObject:
        used = None
        if source.get("/Subtype") == "/Form" or source.get("/PatternType") == 1:
            # Content of its own: only the resources it names.
            used = _names_in(source.get_data())
        out = StreamObject()
        out._data = source._data  # as stored: still compressed
        for key, value in self._dictionary(source, used=used).items():
            out[key] = value
        return out

    def resources(self, value, used: set[str]) -> DictionaryObject:
        resources = _resolve(value)
        out = DictionaryObject()
        if not isinstance(resources, DictionaryObject):
            return out
        for kind in _RESOURCE_KINDS:
            entries = _resolve(resources.get(kind))
            if not isinstance(entries, DictionaryObject):
                continue
            kept = DictionaryObject(
                {
                    NameObject(name): self.copy(entries.raw_get(name))
                    for name in entries
                    if name in used
                }
            )
            if kept:
                out[NameObject(kind)] = kept
        if "/ProcSet" in resources:
            out[NameObject("/ProcSet")] = self.copy(resources.raw_get("/ProcSet"))
        return out


def _used_names(page_data: bytes, resources) -> set[str]:
    """The names a page's content uses, and those of forms without resources of their own
    (they draw with the page's)."""
    used = _names_in(page_data)
    resources = _resolve(resources)
    xobjects = (
        _resolve(resources.get("/XObject")) if isinstance(resources, DictionaryObject) else None
    )
    seen: set[int] = set()
    pending = list(used)
    while pending and isinstance(xobjects, DictionaryObject):
        name = pending.pop()
        form = xobjects.get(name)
        target = _resolve(form)
        if (
            not isinstance(target, StreamObject)
            or target.get("/Subtype") != "/Form"
            or "/Resources" in target
            or id(target) in seen
        ):
            continue
        seen.add(id(target))
        more = _names_in(target.get_data()) - used
        used |= more
        pending.extend(more)
    return used


def _mark(width: float, height: float, x0: float, y0: float) -> bytes:
    """The "Preview" mark: a light diagonal word across the page, and a line at the foot."""
    size = max(24.0, min(width, height) / 5)
    cx, cy = x0 + width / 2, y0 + height / 2
    # cos/sin of 35°
    c, s = 0.8192, 0.5736
    half = size * 1.6  # about half the word's width in Helvetica-Bold
    return (
        b"q /GSPreview gs 0.55 0.58 0.65 rg BT /FPreviewB %.1f Tf "
        b"%.4f %.4f %.4f %.4f %.2f %.2f Tm (Preview) Tj ET Q\n"
        b"q 0.2 0.22 0.28 rg BT /FPreview 9 Tf 1 0 0 1 %.2f %.2f Tm "
        b"(Preview: a few pages chosen by the seller. The full PDF has more.) Tj ET Q"
        % (size, c, s, -s, c, cx - half * c, cy - half * s, x0 + 18, y0 + 12)
    )


def _mark_resources() -> dict[str, DictionaryObject]:
    def font(base: str) -> DictionaryObject:
        return DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject(base),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
            }
        )

    return {
        "/FPreview": font("/Helvetica"),
        "/FPreviewB": font("/Helvetica-Bold"),
        "/GSPreview": DictionaryObject(
            {
                NameObject("/Type"): NameObject("/ExtGState"),
                NameObject("/ca"): FloatObject(0.22),
                NameObject("/CA"): FloatObject(0.22),
            }
        ),
    }


def preview_pdf(file: IO[bytes], pages: list[int], *, title: str = "") -> bytes:
    """A PDF of `pages` (1-based, in that order) of `file`, each marked "Preview"."""
    with _quiet_pypdf(), _pypdf_limits(STREAM_MAX_BYTES):
        file.seek(0)
        reader = PdfReader(file)
        count = len(reader.pages)
        for number in pages:
            if not 1 <= number <= count:
                raise PreviewError(f"Page {number} is not in this PDF ({count} pages).")
        writer = PdfWriter()
        copier = _Copier(writer)
        marks = {name: writer._add_object(obj) for name, obj in _mark_resources().items()}
        for number in pages:
            source = reader.pages[number - 1]
            page = PageObject()  # no source document: pypdf copies nothing more into it
            page[NameObject("/Type")] = NameObject("/Page")
            for key in _PAGE_KEYS:
                if key in source:
                    page[NameObject(key)] = copier.copy(source.raw_get(key))
            if "/MediaBox" not in page:
                page[NameObject("/MediaBox")] = ArrayObject(
                    [NumberObject(0), NumberObject(0), NumberObject(612), NumberObject(792)]
                )
            data = _content_data(source.get("/Contents"))
            resources = copier.resources(
                source.get("/Resources"), _used_names(data, source.get("/Resources"))
            )
            fonts = resources.setdefault(NameObject("/Font"), DictionaryObject())
            states = resources.setdefault(NameObject("/ExtGState"), DictionaryObject())
            for name, ref in marks.items():
                (states if name == "/GSPreview" else fonts)[NameObject(name)] = ref
            page[NameObject("/Resources")] = resources
            box = [float(_resolve(v)) for v in _resolve(page["/MediaBox"])]
            if "/CropBox" in page:
                box = [float(_resolve(v)) for v in _resolve(page["/CropBox"])]
            x0, y0 = min(box[0], box[2]), min(box[1], box[3])
            width, height = abs(box[2] - box[0]), abs(box[3] - box[1])
            # The page's own content, decoded once and stored again (its state wrapped in
            # q…Q so the mark is drawn in the page's default coordinates).
            content = DecodedStreamObject()
            content.set_data(b"q\n" + data + b"\nQ\n" + _mark(width, height, x0, y0))
            page[NameObject("/Contents")] = writer._add_object(content.flate_encode())
            writer.add_page(page)
        # Only what it is: no author, subject, keywords or XMP of the original.
        writer._info = DictionaryObject(
            {NameObject("/Title"): TextStringObject(f"Preview: {title}" if title else "Preview")}
        )
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()
