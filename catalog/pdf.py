"""Is this upload a PDF we are willing to sell? One pass to find out, with a reason if not.

What we check, in order, and what the seller is told when a check fails:

1. Name and size (before any byte is read, catalog.uploads and the services): the name ends
   in ``.pdf``; the request is at most ``settings.PDF_MAX_UPLOAD_BYTES`` (200 MB by default,
   counted in MiB because that is what Windows shows as "MB"; macOS and Linux count
   1,000,000 bytes to the MB, so no file they show as ≤ 200 MB is refused), at least one byte.
2. Signature: ``%PDF-`` at offset 0. Readers accept it anywhere in the first 1024 bytes,
   which is what makes HTML/PDF, ELF/PDF and JS/PDF polyglots possible: we do not. A file
   that is not a PDF is told what it looks like (text, an image, a web page, a ZIP, a
   program…) where its first bytes say so.
3. The end: nothing but whitespace after the last ``%%EOF`` (a ZIP appended to a PDF is a
   PDF/ZIP polyglot, and buyers would receive the ZIP too), and that ``%%EOF`` ends a
   revision (``startxref`` before it, so a second marker behind appended data does not
   pass). An incremental update (more PDF after an ``%%EOF``) is fine; after each
   ``startxref … %%EOF`` only PDF may follow (an object, an ``xref`` section, at most 1 KB
   of comment lines). And no ZIP end-of-central-directory signature in the last 64 KB,
   where ZIP programs look for it: that catches a ZIP however it is disguised (in a fake
   update, in the last stream); compressed data holds those 4 bytes by chance once in ~4
   billion positions. A file whose end marker is missing was cut short only if PDF objects
   precede the cut; random bytes behind a PDF signature are "damaged", not "cut short".
4. A real parse with pypdf, strict first. A file whose cross-reference table is broken
   is repaired (pypdf rebuilds it by scanning the file) only up to ``PDF_REPAIR_MAX_BYTES``
   (64 MB), because the repair holds the whole file in memory; bigger broken files are
   refused with a hint to re-export them. A cross-reference that declares more objects than
   the file could hold (a 60 KB file declaring 2 million) is refused before any reader
   builds a table that size.
5. Not encrypted or password-protected: we stamp buyers' copies and render covers, and
   buyers must be able to open what they paid for.
6. Between 1 and ``PDF_MAX_PAGES`` (5,000) pages, each a well-formed page.
7. What the file expands to: every stream of the file (found by a scan of the raw bytes for
   ``N G obj``, so objects the cross-reference does not list, which a repairing reader such
   as pdfium may still find, count too) is decoded incrementally (zlib ``decompressobj``
   with ``max_length``, LZW, run-length, ASCII filters), counting bytes and never holding
   more than 1 MiB of output. One stream may decode to at most 256 MB, the whole file to
   at most 100 times its size (at least 128 MB, at most 2 GB); past either bound decoding
   stops and the PDF is refused ("This PDF expands far beyond …"). Image codecs (JPEG,
   JPEG 2000, JBIG2, CCITT) are not decoded: their declared width × height counts instead.
8. No active content and no embedded files — **refused, not stripped**. A marketplace
   delivers the seller's bytes unchanged to buyers who trust the platform, so a PDF that
   runs JavaScript (``/JavaScript`` or ``/JS`` actions, including ``/OpenAction`` and
   ``/AA`` triggers and a ``/Rendition`` action's ``/JS``: any dictionary with a ``/JS``
   key, anywhere), launches programs (``/Launch``), carries Flash/RichMedia or XFA forms,
   or smuggles files (``/EmbeddedFiles``, ``/EmbeddedFile`` streams, ``/FileAttachment``
   annotations) is refused with a message naming what was found. Silently rewriting the file
   would change what the seller published (and what its sha256 says); the seller can
   re-export a clean PDF instead ("Print to PDF" or "Save as PDF/A" removes these).

Resources stay bounded whatever the upload:

- The file is read in 1 MiB chunks, once, for the size, the sha256, the signature, the end
  markers, the object headers and a scan of the raw bytes for the names above (``#xx``
  escapes such as ``/J#61vaScript`` included). A 200 MB upload is never held in memory.
- pypdf reads lazily from the (temporary) file under tightened limits (32 MB per stream it
  decodes itself, a cross-reference of at most ``size / 8`` entries, at least 50,000); the
  object walk of step 7 reads each object's dictionary (at most 4 MB) and streams the data.
  A stream that inflates to 1 GB costs 128 MB of zlib work, never 1 GB of memory.
- The whole check gives up after ``PDF_CHECK_MAX_SECONDS`` (20 s): pure-Python decoders
  (LZW, run-length) are slow on very large streams, and a check must end.
- Covers are drawn (catalog.services) only from files that passed, page 1 checked again
  under its own budget (below), in a child process with its own memory and CPU limits.

What this does not promise: arbitrary bytes can always sit *inside* a stream (that is what
streams are for), and an unreferenced object can hide data a reader never shows. What we
promise is that the file is a PDF from its first byte to its last ``%%EOF``, that nothing
follows it, and that nothing in it expands beyond the bounds above.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import logging
import re
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from pypdf import PdfReader, apply_configuration
from pypdf.errors import LimitReachedError, PyPdfError
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    read_object,
)

MIB = 1024 * 1024
CHUNK_SIZE = MIB
# Decompression budget for the streams pypdf decodes itself (xref and object streams).
STREAM_MAX_BYTES = 32 * MIB
OBJECT_STREAMS_MAX_BYTES = 128 * MIB
# The page, object, decoded-size and time bounds are settings (config/settings.py), read
# per call: PDF_MAX_PAGES, PDF_REPAIR_MAX_BYTES, PDF_DECODED_*, PDF_XREF_MIN_ENTRIES,
# PDF_MAX_OBJECTS, PDF_CHECK_MAX_SECONDS.

HELP_TEXT = (
    "A PDF up to {size} (a name ending in .pdf), at most {pages:,} pages, not "
    "password-protected. PDFs with JavaScript, launch actions or embedded files are "
    "refused: re-export them with “Print to PDF” first."
)

_WS = b"\x00\t\n\x0c\r "
_WS_CLASS = rb"[\x00\t\n\x0c\r ]"


class PdfRejected(ValueError):
    """The upload is not a PDF we accept; ``message`` says why, for the seller."""

    code = "invalid_pdf"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PdfEmpty(PdfRejected):
    code = "pdf_empty"


class PdfTooLarge(PdfRejected):
    code = "pdf_too_large"


class PdfBadName(PdfRejected):
    code = "pdf_bad_name"


class PdfNotPdf(PdfRejected):
    code = "pdf_not_pdf"


class PdfTruncated(PdfRejected):
    code = "pdf_truncated"


class PdfTrailingData(PdfRejected):
    code = "pdf_trailing_data"


class PdfDamaged(PdfRejected):
    code = "pdf_damaged"


class PdfEncrypted(PdfRejected):
    code = "pdf_encrypted"


class PdfNoPages(PdfRejected):
    code = "pdf_no_pages"


class PdfTooManyPages(PdfRejected):
    code = "pdf_too_many_pages"


class PdfExpands(PdfRejected):
    code = "pdf_expands"


class PdfTooComplex(PdfRejected):
    code = "pdf_too_complex"


class PdfActiveContent(PdfRejected):
    code = "pdf_active_content"


class PdfEmbeddedFiles(PdfRejected):
    code = "pdf_embedded_files"


@dataclass(frozen=True)
class PdfInfo:
    page_count: int
    size: int
    sha256: str


def max_pages() -> int:
    return settings.PDF_MAX_PAGES


def help_text() -> str:
    return HELP_TEXT.format(size=megabytes(settings.PDF_MAX_UPLOAD_BYTES), pages=max_pages())


def megabytes(size: int) -> str:
    """A size as people's computers show it: MiB, labelled "MB" (as Windows does).

    macOS and Linux count 1,000,000 bytes to the MB, so a file they show as "200 MB" is
    190.7 MiB: under a 200 "MB" limit counted in MiB, whichever computer it comes from.
    """
    if size >= 10 * MIB:
        return f"{size / MIB:,.0f} MB"
    if size >= MIB:
        return f"{size / MIB:.1f}".removesuffix(".0") + " MB"
    return f"{max(1, size // 1024):,} KB"


def megabytes_over(size: int, limit: int) -> str:
    """A size just over a limit, precise enough not to read the same as the limit."""
    shown = megabytes(size)
    if shown == megabytes(limit):
        shown = f"{size / MIB:.2f} MB" if size >= MIB else f"{size / 1024:.1f} KB"
    if shown in (megabytes(limit), f"{limit / MIB:.2f} MB", f"{limit / 1024:.1f} KB"):
        shown = f"{size:,} bytes"
    return shown


def too_large_message(limit: int, size: int | None = None) -> str:
    has = f" ({megabytes_over(size, limit)})" if size else ""
    return f"This file is larger than {megabytes(limit)}{has}, the most a product PDF may be."


def pdf_check_name(name: str) -> None:
    """The upload's name must end in .pdf (any case): `invoice.pdf.exe` is not a PDF."""
    base = re.split(r"[/\\]", name or "")[-1].strip()
    if base.lower().endswith(".pdf") and len(base) > 4:
        return
    shown = base if len(base) <= 80 else base[:60] + "…" + base[-15:]
    if "." in base.strip("."):
        extension = base.rsplit(".", 1)[1]
        raise PdfBadName(
            f"“{shown}” ends in “.{extension}”, not “.pdf”: only PDF files can be sold here. "
            "Export your document as PDF (or, if it is one, rename it to end in .pdf) and "
            "upload that."
        )
    raise PdfBadName(
        f"“{shown or 'This file'}” has no “.pdf” at the end of its name: only PDF files can "
        "be sold here. Export your document as PDF and upload that."
    )


# --- What a file looks like ----------------------------------------------------------------

_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an older Microsoft Office document (.doc, .xls, .ppt)"),
    (b"{\\rtf", "an RTF document"),
    (b"%!PS", "a PostScript file"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\xcf\xfa\xed\xfe", "a macOS program"),
    (b"\xce\xfa\xed\xfe", "a macOS program"),
    (b"\xca\xfe\xba\xbe", "a macOS program"),
    (b"ID3", "an MP3 audio file"),
    (b"OggS", "an Ogg audio file"),
]


def looks_like(sample: bytes) -> str | None:
    """What the first bytes of a file say it is, in words ("a PNG image"), or None."""
    if sample.startswith(b"RIFF") and sample[8:12] == b"WEBP":
        return "a WebP image"
    if sample[4:8] == b"ftyp":
        return "a video or HEIC image"
    if sample.startswith(b"PK\x03\x04"):
        if b"word/" in sample[:4096]:
            return "a Word document (.docx)"
        if b"mimetypeapplication/epub+zip" in sample[:4096]:
            return "an EPUB e-book"
        if b"xl/" in sample[:4096]:
            return "an Excel spreadsheet (.xlsx)"
        if b"ppt/" in sample[:4096]:
            return "a PowerPoint presentation (.pptx)"
    for magic, what in _MAGIC:
        if sample.startswith(magic):
            return what
    text = _as_text(sample)
    if text is None:
        return None
    lowered = text.lstrip("\ufeff \t\r\n").lower()
    start = lowered[:1024]
    if lowered.startswith(("<!doctype html", "<html", "<head", "<body")):
        return "a web page (HTML)"
    if lowered.startswith("<svg") or (lowered.startswith("<?xml") and "<svg" in start):
        return "an SVG image"
    if "<html" in start or "<script" in start:
        return "a web page (HTML)"
    if lowered.startswith("<?xml"):
        return "an XML file"
    if lowered.startswith(("{", "[")):
        return "a JSON or text file"
    return "plain text"


def _as_text(sample: bytes) -> str | None:
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return sample[2:].decode("utf-16-le" if sample[0] == 0xFF else "utf-16-be", "ignore")
        except UnicodeDecodeError:  # pragma: no cover - "ignore" never raises
            return None
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the sample's end
            return None
        text = sample[: exc.start].decode("utf-8")
    if not text:
        return None
    printable = sum(1 for c in text if c.isprintable() or c in "\t\r\n")
    return text if printable >= 0.97 * len(text) else None


# --- The raw name scan ---------------------------------------------------------------------
# Names are matched with every character either literal or #xx-escaped, and must end at a
# PDF delimiter. Only names of six letters or more are scanned in raw bytes: shorter ones
# (/JS, /EF, /AA) turn up by chance in compressed image data; they are checked on the
# parsed objects instead.
_DANGEROUS_NAMES = {
    "JavaScript": "JavaScript",
    "Launch": "an action that launches programs",
    "RichMedia": "Flash/RichMedia content",
    "EmbeddedFiles": "embedded files",
    "EmbeddedFile": "embedded files",
    "FileAttachment": "a file attachment",
}
_EMBEDDING = {"EmbeddedFiles", "EmbeddedFile", "FileAttachment"}


def _name_pattern(name: str) -> bytes:
    parts = []
    for char in name:
        code = ord(char)
        hex_forms = {f"{code:02x}", f"{code:02X}"}
        alternatives = [re.escape(char.encode())] + [b"#" + h.encode() for h in sorted(hex_forms)]
        parts.append(b"(?:" + b"|".join(alternatives) + b")")
    return b"".join(parts)


_DELIMITER_AHEAD = rb"(?=[\x00\t\n\x0c\r /\[\]<>(){}%]|$)"
_NAMES_RE = re.compile(
    b"/(?:"
    + b"|".join(
        b"(?P<%s>%s)" % (name.encode(), _name_pattern(name))
        for name in sorted(_DANGEROUS_NAMES, key=len, reverse=True)
    )
    + b")"
    + _DELIMITER_AHEAD
)
_OVERLAP = 1024  # longer than any escaped name or end marker we look for
_JS_RE = re.compile(b"/" + _name_pattern("JS") + _DELIMITER_AHEAD)
# A dictionary that might run a script: a /JS key, or an /S (action type) given by name or
# by reference. Only objects that match are parsed for the structural check.
_MAY_SCRIPT_RE = re.compile(
    b"/"
    + _name_pattern("JS")
    + _DELIMITER_AHEAD
    + b"|/"
    + _name_pattern("S")
    + _WS_CLASS
    + b"*[/0-9]"
)


def _scan_names(data: bytes) -> set[str]:
    return {match.lastgroup for match in _NAMES_RE.finditer(data) if match.lastgroup}


def _refuse_dangerous(found: Iterable[str]) -> None:
    found = set(found)
    if not found:
        return
    active = sorted(_DANGEROUS_NAMES[n] for n in found - _EMBEDDING)
    if active:
        raise PdfActiveContent(
            f"This PDF contains {' and '.join(dict.fromkeys(active))}, which we do not sell: "
            "it could run code on buyers' computers. Re-export it without scripts "
            "(for example with “Print to PDF”) and upload it again."
        )
    raise PdfEmbeddedFiles(
        "This PDF carries embedded files (attachments inside the PDF), which we do not sell: "
        "buyers could receive files nobody checked. Remove the attachments or re-export it "
        "with “Print to PDF”, and upload it again."
    )


# --- Reading -------------------------------------------------------------------------------

_REVISION_END_RE = re.compile(rb"startxref" + _WS_CLASS + rb"+-?\d+" + _WS_CLASS + rb"*%%EOF")
# ZIP readers look for the end-of-central-directory record in the last 64 KB + 22 bytes
# of a file: a PDF with that signature there is also a ZIP, however it was disguised
# (inside a stream, a fake object…). Compressed data holds those 4 bytes by chance about
# once in 4 billion positions, so honest PDFs (64 K positions) are not refused for it.
_ZIP_END = b"PK\x05\x06"
_ZIP_REACH = 65_535 + 22
_OBJ_RE = re.compile(rb"obj(?![A-Za-z0-9])")
_OBJ_HEADER_RE = re.compile(rb"(\d{1,10})" + _WS_CLASS + rb"+(\d{1,5})" + _WS_CLASS + rb"+obj")
_PDF_AHEAD_RE = re.compile(rb"\d{1,10}" + _WS_CLASS + rb"+\d{1,5}" + _WS_CLASS + rb"+obj|xref")


@dataclass
class _Pass:
    size: int
    sha256: str
    head: bytes
    names: set[str]
    last_eof_end: int  # just after the last %%EOF, -1 if none
    content_end: int  # just after the last byte that is not whitespace
    tail: bytes = b""  # the last _ZIP_REACH bytes
    revision_ends: set[int] = field(default_factory=set)
    headers: set[int] = field(default_factory=set)


def _read_through(file: IO[bytes], limit: int) -> _Pass:
    digest = hashlib.sha256()
    size = 0
    head = b""
    carry = b""
    scanned = _Pass(size=0, sha256="", head=b"", names=set(), last_eof_end=-1, content_end=0)
    file.seek(0)
    while chunk := file.read(CHUNK_SIZE):
        size += len(chunk)
        if size > limit:
            raise PdfTooLarge(too_large_message(limit))
        if not head:
            head = chunk[:4096]
            _check_signature(head)
        digest.update(chunk)
        window = carry + chunk
        start = size - len(window)  # the window's offset in the file
        scanned.names |= _scan_names(window)
        eof = window.rfind(b"%%EOF")
        if eof >= 0:
            scanned.last_eof_end = max(scanned.last_eof_end, start + eof + 5)
        for match in _REVISION_END_RE.finditer(window):
            scanned.revision_ends.add(start + match.end())
        for match in _OBJ_RE.finditer(window):
            header = _header_before(window, match.start())
            if header is not None:
                scanned.headers.add(start + header)
        if len(scanned.headers) > settings.PDF_MAX_OBJECTS:
            raise PdfTooComplex(
                f"This PDF holds more than {settings.PDF_MAX_OBJECTS:,} "
                "objects, more than we can check. Export it again (or “Print to PDF”) and "
                "upload the new file."
            )
        content = chunk.rstrip(_WS)
        if content:
            scanned.content_end = size - len(chunk) + len(content)
        carry = window[-_OVERLAP:]
        scanned.tail = (scanned.tail + chunk)[-_ZIP_REACH:]
    if size == 0:
        raise PdfEmpty("This file is empty (0 bytes). Choose the PDF again and upload it.")
    scanned.size, scanned.sha256, scanned.head = size, digest.hexdigest(), head
    return scanned


def _header_before(window: bytes, obj: int) -> int | None:
    """Where the `N G obj` header ending at window[obj] ("obj") starts, any whitespace
    between its parts (PDF allows any amount; a fixed-width pattern could be dodged)."""
    i = obj - 1
    for digits in (5, 10):  # the generation, then the object number
        blank_end = i
        while i >= 0 and window[i] in _WS:
            i -= 1
        if i == blank_end:
            return None  # no whitespace before this part
        digits_end = i
        while i >= 0 and digits_end - i < digits and 0x30 <= window[i] <= 0x39:
            i -= 1
        if i == digits_end:
            return None  # no digits
    if i >= 0 and 0x30 <= window[i] <= 0x39:
        return None  # more digits than an object number has
    return i + 1


def _check_signature(head: bytes) -> None:
    if head.startswith(b"%PDF-"):
        return
    later = head.find(b"%PDF-")
    what = looks_like(head[:later] if later > 0 else head)
    if later > 0:
        before = f"with {what}" if what else f"with {later:,} bytes of something else"
        raise PdfNotPdf(
            f"This file is not a PDF as we sell them: it starts {before}, and the PDF "
            "signature only comes after that (a PDF must start with “%PDF-”). Export your "
            "document as PDF again and upload that."
        )
    if what:
        raise PdfNotPdf(
            f"This file is not a PDF: it looks like {what}, whatever its name says. "
            "Export your document as PDF and upload that."
        )
    raise PdfNotPdf(
        "This file is not a PDF (it does not start with the PDF signature), "
        "whatever its name says. Export your document as PDF and upload that."
    )


def _check_end(file: IO[bytes], scanned: _Pass) -> None:
    """Nothing after the last %%EOF but whitespace; only PDF after every earlier one; the
    last %%EOF ends a revision (startxref before it); no ZIP where ZIP readers look."""
    if scanned.last_eof_end < 0:
        raise _missing_end(scanned)
    if scanned.content_end > scanned.last_eof_end:
        after = _sample(file, scanned.last_eof_end)
        if _PDF_AHEAD_RE.match(after):
            raise PdfTruncated(
                "This PDF is incomplete: its last update stops before its end marker, so the "
                "upload or the export was cut short. Upload the complete file again."
            )
        raise PdfTrailingData(_appended_message(after, scanned.content_end - scanned.last_eof_end))
    ends = sorted(scanned.revision_ends)
    if scanned.last_eof_end not in ends:
        after = _sample(file, ends[-1]) if ends else b""
        what = looks_like(after) if ends and not _PDF_AHEAD_RE.match(after) else None
        raise PdfTrailingData(
            f"This PDF has {what or 'data'} appended after its real end, behind a second "
            "“%%EOF” end marker with no cross-reference before it: buyers would download it "
            "too. Save or export the PDF again and upload the new file."
        )
    for end in ends[:-1]:
        after = _skip_comments(_sample(file, end, 4096))
        if after is not None and (_PDF_AHEAD_RE.match(after) or after.startswith(b"%%EOF")):
            continue
        what = looks_like(after) if after else None
        raise PdfTrailingData(
            f"This PDF hides {what or 'data that is not PDF'} between its updates (after an "
            "“%%EOF” end marker, where only more PDF may follow): buyers would download it "
            "too. Save or export the PDF again and upload the new file."
        )
    if _ZIP_END in scanned.tail:
        raise PdfTrailingData(
            "This PDF is also a ZIP archive (a ZIP directory sits in its last 64 KB, where "
            "ZIP programs look for one): buyers would receive both. Save or export the PDF "
            "again and upload the new file."
        )


def _missing_end(scanned: _Pass) -> PdfRejected:
    if scanned.headers:
        return PdfTruncated(
            "This PDF is incomplete: it stops before its end marker, so the upload or the "
            "export was cut short. Upload the complete file again."
        )
    return PdfDamaged(
        "This PDF is damaged: after its PDF signature comes no PDF content (no objects, no end "
        "marker), so it is not a readable PDF. Export your document as PDF again and upload that."
    )


def _appended_message(after: bytes, extra: int) -> str:
    what = looks_like(after.lstrip(_WS))
    described = what or f"{megabytes(extra) if extra >= 1024 else f'{extra:,} bytes'} of other data"
    return (
        f"This PDF has {described} appended after its end (after the “%%EOF” end marker): "
        "buyers would download that too. Save or export the PDF again (which writes it without "
        "the extra data) and upload the new file."
    )


def _sample(file: IO[bytes], offset: int, length: int = 4096) -> bytes:
    file.seek(offset)
    return file.read(length).lstrip(_WS)


def _skip_comments(data: bytes) -> bytes | None:
    """The data after a few short comment lines; None if comments go on for over 1 KB."""
    skipped = 0
    while data.startswith(b"%") and not data.startswith(b"%%EOF"):
        line_end = re.search(rb"[\r\n]", data)
        if line_end is None or skipped + line_end.end() > 1024:
            return None
        skipped += line_end.end()
        data = data[line_end.end() :].lstrip(_WS)
    return data


def _xref_entries_max(size: int) -> int:
    return min(
        settings.PDF_MAX_OBJECTS,
        max(settings.PDF_XREF_MIN_ENTRIES, size // 8),
    )


def _too_many_objects(size: int) -> PdfDamaged:
    return PdfDamaged(
        "This PDF is damaged: its cross-reference declares more objects than a file of "
        f"{megabytes(size)} can hold (at most {_xref_entries_max(size):,}). "
        "Export it again and upload the new file."
    )


def _open(file: IO[bytes], *, strict: bool, size: int) -> PdfReader:
    file.seek(0)
    return PdfReader(file, strict=strict, xref_stream_maximum_entries=_xref_entries_max(size))


_PARSE_ERRORS = (
    PyPdfError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    RecursionError,
)


def _xref_flood(exc: BaseException) -> bool:
    """pypdf's cross-reference entry limit, however deep pypdf wrapped it."""
    while exc is not None:
        if isinstance(exc, LimitReachedError) and "XRef" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _parse(file: IO[bytes], size: int) -> PdfReader:
    try:
        reader = _open(file, strict=True, size=size)
    except _PARSE_ERRORS as exc:
        if _xref_flood(exc):
            raise _too_many_objects(size) from exc
        reader = None
    if reader is None:
        if size > settings.PDF_REPAIR_MAX_BYTES:
            raise PdfDamaged(
                "This PDF is damaged (its cross-reference table is broken) and too large to "
                "repair here. Open it in a PDF reader, save or export it again, and upload "
                "the new file."
            )
        try:
            reader = _open(file, strict=False, size=size)
            reader.trailer["/Root"].get_object()["/Pages"].get_object()
        except Exception as exc:
            if _xref_flood(exc):
                raise _too_many_objects(size) from exc
            raise PdfDamaged(
                "This PDF is damaged and cannot be read (we could not find its pages). "
                "Open it in a PDF reader, save or export it again, and upload the new file."
            ) from exc
    try:
        declared = int(_resolve(reader.trailer.get("/Size", 0)))
    except (TypeError, ValueError):
        declared = 0
    if declared > _xref_entries_max(size):
        raise _too_many_objects(size)
    return reader


def _resolve(obj):
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def _structure_names(reader: PdfReader) -> set[str]:
    """Short names a raw scan cannot look for, found where they matter: the catalog."""
    found: set[str] = set()
    root = _resolve(reader.trailer["/Root"])
    names = _resolve(root.get("/Names"))
    if isinstance(names, DictionaryObject):
        if "/JavaScript" in names:
            found.add("JavaScript")
        if "/EmbeddedFiles" in names:
            found.add("EmbeddedFiles")
    # /OpenAction is an action or a destination (an array: harmless); /AA maps triggers
    # to actions. Only action dictionaries are followed, never pages or their resources.
    if _runs_script(root.get("/OpenAction")):
        found.add("JavaScript")
    triggers = _resolve(root.get("/AA"))
    if isinstance(triggers, DictionaryObject) and any(_runs_script(a) for a in triggers.values()):
        found.add("JavaScript")
    acroform = _resolve(root.get("/AcroForm"))
    if isinstance(acroform, DictionaryObject) and "/XFA" in acroform:
        found.add("JavaScript")  # XFA forms carry their own scripts
    return found


_SCRIPT_ACTIONS = {NameObject("/JavaScript"): "JavaScript", NameObject("/Launch"): "Launch"}


def _runs_script(action, *, depth: int = 0) -> bool:
    """An action dictionary that runs JavaScript or a program, itself or in its /Next chain."""
    action = _resolve(action)
    if depth > 16 or not isinstance(action, DictionaryObject):
        return False
    if "/JS" in action or action.get("/S") in _SCRIPT_ACTIONS:
        return True
    following = _resolve(action.get("/Next"))
    chain = following if isinstance(following, ArrayObject) else [following]
    return any(_runs_script(a, depth=depth + 1) for a in chain if a is not None)


def _scripts_in(obj, *, depth: int = 0) -> set[str]:
    """Script actions anywhere inside one parsed object (references are other objects).

    A /JS key runs JavaScript whatever the action's type says (a /Rendition action's /JS
    does, ISO 32000-1 12.6.4.13); an /S of /JavaScript or /Launch does too, by name or by
    reference.
    """
    if depth > 64:
        return set()
    found: set[str] = set()
    if isinstance(obj, DictionaryObject):
        if "/JS" in obj:
            found.add("JavaScript")
        kind = dict.get(obj, "/S")
        if isinstance(kind, IndirectObject):
            try:
                kind = kind.get_object()
            except _PARSE_ERRORS:
                kind = None
        if kind in _SCRIPT_ACTIONS:
            found.add(_SCRIPT_ACTIONS[kind])
        values = dict.values(obj)
    elif isinstance(obj, ArrayObject):
        values = list.__iter__(obj)
    else:
        return found
    for value in values:
        if isinstance(value, DictionaryObject | ArrayObject):
            found |= _scripts_in(value, depth=depth + 1)
    return found


def pdf_validate(file: IO[bytes]) -> PdfInfo:
    """Validate a PDF from a binary, seekable file; raise a PdfRejected subclass if refused."""
    limit = settings.PDF_MAX_UPLOAD_BYTES
    declared = getattr(file, "size", None)
    if declared is not None and declared > limit:
        raise PdfTooLarge(too_large_message(limit, declared))
    scanned = _read_through(file, limit)
    _check_end(file, scanned)
    with _quiet_pypdf(), _pypdf_limits(STREAM_MAX_BYTES):
        reader = _parse(file, scanned.size)
        if reader.is_encrypted:
            raise PdfEncrypted(
                "This PDF is encrypted or password-protected. Buyers must be able to open "
                "what they pay for: remove the protection (or “Print to PDF”) and upload again."
            )
        page_count = _count_pages(reader)
        found = set(scanned.names)
        try:
            found |= _structure_names(reader)
            # Every object the raw scan found, and every one the cross-reference lists.
            positions = scanned.headers | {
                offset
                for table in reader.xref.values()
                for offset in table.values()
                if isinstance(offset, int) and 0 <= offset < scanned.size
            }
            found |= _ObjectWalk(file, reader, scanned.size).run(sorted(positions))
        except PdfRejected:
            raise
        except _PARSE_ERRORS as exc:
            raise PdfDamaged(
                "This PDF is damaged and cannot be read. Export it again and upload the new file."
            ) from exc
    _refuse_dangerous(found)
    file.seek(0)
    return PdfInfo(page_count=page_count, size=scanned.size, sha256=scanned.sha256)


def _pypdf_limits(per_stream: int):
    return apply_configuration(
        zlib_maximum_output_length=per_stream,
        lzw_maximum_output_length=per_stream,
        run_length_maximum_output_length=per_stream,
        brotli_maximum_output_length=per_stream,
        stream_decoding_work_maximum_length=per_stream * 4,
        # Never flatten more pages than we accept: a page tree that lists the same
        # node twice at each level would otherwise be walked to pypdf's 2,000,000.
        page_tree_maximum_page_entries=max_pages() + 1,
    )


def _count_pages(reader: PdfReader) -> int:
    try:
        root = _resolve(reader.trailer["/Root"])
        declared = _resolve(_resolve(root["/Pages"]).get("/Count", 0))
        if int(declared) > max_pages():
            raise PdfTooManyPages(_too_many(int(declared)))
        count = len(reader.pages)
        if count > max_pages():
            raise PdfTooManyPages(_too_many(count))
        for page in reader.pages:
            box = page.mediabox
            if box.width <= 0 or box.height <= 0:
                raise ValueError("empty page box")
    except PdfRejected:
        raise
    except LimitReachedError as exc:
        raise PdfTooManyPages(_too_many(None)) from exc
    except _PARSE_ERRORS as exc:
        raise PdfDamaged(
            "This PDF is damaged: its pages cannot be read. Export it again and upload the new file."
        ) from exc
    if count == 0:
        raise PdfNoPages("This PDF has no pages. Export your document again and upload that.")
    return count


def _too_many(count: int | None) -> str:
    has = f"has {count:,} pages" if count else "has too many pages"
    return f"This PDF {has}; the most we accept is {max_pages():,} pages."


class _quiet_pypdf:
    """pypdf logs a warning per oddity it repairs; the refusal message is what matters."""

    def __enter__(self) -> None:
        self.logger = logging.getLogger("pypdf")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc) -> None:
        self.logger.setLevel(self.level)


# --- The object walk: what every stream expands to ---------------------------------------

_WINDOW = 64 * 1024
_WINDOW_MAX = 4 * MIB
_LEX_RE = re.compile(rb"[%()<>\[\]]|(?<![A-Za-z0-9#/_.*+-])(?:endobj|stream)(?![A-Za-z0-9])")
_EOL_RE = re.compile(rb"[\r\n]")
_STRING_RE = re.compile(rb"[()\\]")
_NOT_HEX_RE = re.compile(rb"[^0-9A-Fa-f]")
_WS_RE = re.compile(_WS_CLASS + b"+")
_IMAGE_CODECS = {"/DCTDecode", "/DCT", "/JPXDecode", "/JBIG2Decode", "/CCITTFaxDecode", "/CCF"}


def _string_end(buf: bytes, i: int) -> int | None:
    """Just after the literal string that starts at buf[i] == "(" (nested, escaped)."""
    depth = 0
    while True:
        match = _STRING_RE.search(buf, i)
        if match is None:
            return None
        at = match.start()
        char = buf[at]
        if char == 0x5C:  # backslash: the next byte is escaped
            i = at + 2
            continue
        depth += 1 if char == 0x28 else -1
        if depth == 0:
            return at + 1
        i = at + 1


def _value_extent(buf: bytes, i: int) -> tuple[int, bool] | None:
    """Where the object's value that starts at buf[i] ends: the offset of its `endobj` or
    `stream` keyword (outside strings, comments and nesting), and whether it is `stream`.
    None when buf ends first."""
    depth = 0
    size = len(buf)
    while True:
        match = _LEX_RE.search(buf, i)
        if match is None:
            return None
        at, token = match.start(), match.group()
        if token == b"%":
            eol = _EOL_RE.search(buf, at)
            if eol is None:
                return None
            i = eol.end()
        elif token == b"(":
            end = _string_end(buf, at)
            if end is None:
                return None
            i = end
        elif token in (b"<", b">"):
            if at + 1 >= size:
                return None
            if buf[at + 1] == buf[at]:
                depth += 1 if token == b"<" else -1
                i = at + 2
            elif token == b"<":
                close = buf.find(b">", at + 1)
                if close < 0:
                    return None
                i = close + 1
            else:
                i = at + 1
        elif token in (b"[", b"]"):
            depth += 1 if token == b"[" else -1
            i = at + 1
        else:
            if depth <= 0:
                return at, token == b"stream"
            i = match.end()


class _Inflate:
    """zlib, never more than CHUNK_SIZE of output at once (decompressobj's max_length)."""

    def __init__(self) -> None:
        self.inflater = zlib.decompressobj()
        self.started = False
        self.dead = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while not self.dead and not self.inflater.eof:
            try:
                out = self.inflater.decompress(data, CHUNK_SIZE)
            except zlib.error:
                if not self.started:  # raw deflate without the zlib header: readers try it
                    self.inflater, self.started = zlib.decompressobj(-15), True
                    continue
                self.dead = True
                return
            self.started = True
            data = self.inflater.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < CHUNK_SIZE:
                return

    def finish(self) -> Iterator[bytes]:
        return iter(())


class _Lzw:
    def __init__(self, early_change: int = 1) -> None:
        self.early = 1 if early_change not in (0, 1) else early_change
        self.bits = self.count = 0
        self.done = False
        self._reset()

    def _reset(self) -> None:
        self.table = [bytes([i]) for i in range(256)] + [b"", b""]
        self.width = 9
        self.previous: bytes | None = None

    def feed(self, data: bytes) -> Iterator[bytes]:
        out = bytearray()
        for byte in data:
            if self.done:
                break
            self.bits = (self.bits << 8) | byte
            self.count += 8
            while self.count >= self.width:
                self.count -= self.width
                code = self.bits >> self.count
                self.bits &= (1 << self.count) - 1
                table = self.table
                if code == 256:
                    self._reset()
                    continue
                if code == 257:
                    self.done = True
                    break
                if code < len(table):
                    entry = table[code]
                    if self.previous is not None and len(table) < 4096:
                        table.append(self.previous + entry[:1])
                elif code == len(table) and self.previous is not None:
                    entry = self.previous + self.previous[:1]
                    if len(table) < 4096:
                        table.append(entry)
                else:
                    self.done = True
                    break
                out += entry
                self.previous = entry
                if len(table) + self.early >= (1 << self.width) and self.width < 12:
                    self.width += 1
            if len(out) >= CHUNK_SIZE:
                yield bytes(out)
                out.clear()
        if out:
            yield bytes(out)

    def finish(self) -> Iterator[bytes]:
        return iter(())


class _RunLength:
    def __init__(self) -> None:
        self.pending = b""
        self.done = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.done:
            return
        data = self.pending + data
        out = bytearray()
        i, size = 0, len(data)
        while i < size:
            length = data[i]
            if length == 128:
                self.done = True
                break
            if length < 128:
                if i + 2 + length > size:
                    break
                out += data[i + 1 : i + 2 + length]
                i += 2 + length
            else:
                if i + 1 >= size:
                    break
                out += data[i + 1 : i + 2] * (257 - length)
                i += 2
            if len(out) >= CHUNK_SIZE:
                yield bytes(out)
                out.clear()
        self.pending = b"" if self.done else data[i:]
        if out:
            yield bytes(out)

    def finish(self) -> Iterator[bytes]:
        return iter(())


class _AsciiHex:
    def __init__(self) -> None:
        self.pending = b""
        self.done = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.done:
            return
        end = data.find(b">")
        if end >= 0:
            data, self.done = data[:end], True
        digits = self.pending + _NOT_HEX_RE.sub(b"", data)
        cut = len(digits) - len(digits) % 2
        self.pending = digits[cut:]
        if cut:
            yield binascii.unhexlify(digits[:cut])

    def finish(self) -> Iterator[bytes]:
        if self.pending:
            yield binascii.unhexlify(self.pending + b"0")
            self.pending = b""


class _Ascii85:
    def __init__(self) -> None:
        self.pending = b""
        self.done = self.started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.done:
            return
        data = _WS_RE.sub(b"", data)
        if not self.started and data:
            self.started = True
            data = data.removeprefix(b"<~")
        end = data.find(b"~")
        if end >= 0:
            data, self.done = data[:end], True
        chars = self.pending + data.replace(b"z", b"!!!!!")
        cut = len(chars) if self.done else len(chars) - len(chars) % 5
        self.pending = chars[cut:]
        if cut:
            try:
                yield base64.a85decode(chars[:cut])
            except ValueError:
                self.done, self.pending = True, b""

    def finish(self) -> Iterator[bytes]:
        if self.pending:
            with contextlib.suppress(ValueError):
                yield base64.a85decode(self.pending)
            self.pending = b""


def _decoder(name: str, parms) -> object | None:
    if name in ("/FlateDecode", "/Fl"):
        return _Inflate()
    if name in ("/LZWDecode", "/LZW"):
        early = 1
        if isinstance(parms, DictionaryObject):
            try:
                early = int(_resolve(parms.get("/EarlyChange", 1)))
            except (TypeError, ValueError):
                early = 1
        return _Lzw(early)
    if name in ("/RunLengthDecode", "/RL"):
        return _RunLength()
    if name in ("/ASCIIHexDecode", "/AHx"):
        return _AsciiHex()
    if name in ("/ASCII85Decode", "/A85"):
        return _Ascii85()
    return None  # image codecs and filters readers do not decode (they cannot expand there)


def _as_list(value) -> list:
    value = _resolve(value)
    if value is None:
        return []
    return list(value) if isinstance(value, ArrayObject) else [value]


def _components(space) -> int:
    space = _resolve(space)
    if isinstance(space, ArrayObject) and space:
        family = _resolve(space[0])
        if family in ("/Indexed", "/I", "/Separation"):
            return 1
        if family == "/DeviceN" and len(space) > 1:
            return max(1, len(_resolve(space[1])))
        if family == "/ICCBased" and len(space) > 1:
            return max(1, min(4, int(_resolve(_resolve(space[1]).get("/N", 3)))))
        if family == "/CalGray":
            return 1
        if family in ("/CalRGB", "/Lab"):
            return 3
        return 4
    return {"/DeviceGray": 1, "/G": 1, "/DeviceRGB": 3, "/RGB": 3}.get(str(space), 4)


def _image_bytes(info: DictionaryObject) -> int:
    """What an image codec will decode to, from the image's declared size."""
    try:
        if _resolve(dict.get(info, "/Subtype")) != "/Image":
            return 0
        width = max(0, int(_resolve(dict.get(info, "/Width", 0))))
        height = max(0, int(_resolve(dict.get(info, "/Height", 0))))
        if _resolve(dict.get(info, "/ImageMask")):
            return width * height // 8
        bits = max(1, int(_resolve(dict.get(info, "/BitsPerComponent", 8)) or 8))
        return width * height * _components(dict.get(info, "/ColorSpace")) * bits // 8
    except _PARSE_ERRORS:
        return 0


class _ObjectWalk:
    """Every object of the file, in file order: scripts in any dictionary, and what each
    stream decodes to, counted without ever holding more than a chunk of it."""

    def __init__(self, file: IO[bytes], reader: PdfReader, size: int) -> None:
        self.file, self.reader, self.size = file, reader, size
        self.stream_cap = settings.PDF_DECODED_STREAM_MAX_BYTES
        self.budget = min(
            settings.PDF_DECODED_MAX_BYTES,
            max(
                settings.PDF_DECODED_MIN_BYTES,
                settings.PDF_DECODED_RATIO * size,
            ),
        )
        self.total = 0
        self.object_streams = 0
        self.found: set[str] = set()
        seconds = settings.PDF_CHECK_MAX_SECONDS
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds

    def run(self, headers: list[int]) -> set[str]:
        skip_until = 0
        for position in headers:
            if position < skip_until:
                continue  # inside the data of a stream already counted
            self._tick()
            skip_until = max(skip_until, self._object(position))
        return self.found

    def _tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise PdfTooComplex(
                f"This PDF takes too long to check (more than {self.seconds:.0f} seconds): it "
                "is unusually complex. Export it again (for example with “Print to PDF”) and "
                "upload the new file."
            )

    def _read(self, offset: int, length: int) -> bytes:
        self.file.seek(offset)
        return self.file.read(length)

    def _object(self, position: int) -> int:
        buf = self._read(position, _WINDOW)
        header = _OBJ_HEADER_RE.match(buf)
        if header is None:
            return position + 1
        extent = _value_extent(buf, header.end())
        while extent is None and len(buf) < _WINDOW_MAX:
            more = self._read(position + len(buf), len(buf))
            if not more:
                break
            buf += more
            extent = _value_extent(buf, header.end())
        if extent is None:
            return position + len(buf)  # not an object we can read; neither can a reader
        end, is_stream = extent
        raw = buf[header.end() : end]
        info = self._parse(raw) if (is_stream or _MAY_SCRIPT_RE.search(raw)) else None
        if info is not None and _MAY_SCRIPT_RE.search(raw):
            self.found |= _scripts_in(info)
        if not is_stream:
            return position + end
        after = self._read(position + end + 6, 16)
        skip = len(after) - len(after.lstrip(b" "))
        if after[skip : skip + 2] == b"\r\n":
            skip += 2
        elif after[skip : skip + 1] in (b"\n", b"\r"):
            skip += 1
        data_start = position + end + 6 + skip
        info = info if isinstance(info, DictionaryObject) else DictionaryObject()
        length = self._length(info, data_start)
        self._stream(info, data_start, length)
        return data_start + length

    def _parse(self, raw: bytes):
        try:
            return read_object(io.BytesIO(raw.strip(_WS)), self.reader)
        except (*_PARSE_ERRORS, LimitReachedError, AssertionError):
            return None

    def _length(self, info: DictionaryObject, data_start: int) -> int:
        try:
            length = int(_resolve(dict.get(info, "/Length", -1)))
        except (*_PARSE_ERRORS, AssertionError):
            length = -1
        if 0 <= length <= self.size - data_start:
            tail = self._read(data_start + length, 48).lstrip(_WS)
            if tail.startswith(b"endstream"):
                return length
        # A wrong /Length: readers look for `endstream`, and so do we.
        offset, carry = data_start, b""
        while chunk := self._read(offset, CHUNK_SIZE):
            window = carry + chunk
            found = window.find(b"endstream")
            if found >= 0:
                return offset - len(carry) + found - data_start
            carry, offset = window[-16:], offset + len(chunk)
            self._tick()
        return self.size - data_start

    def _stream(self, info: DictionaryObject, data_start: int, length: int) -> None:
        object_stream = _resolve(dict.get(info, "/Type")) == "/ObjStm"
        chain: list = []
        image = False
        params = _as_list(dict.get(info, "/DecodeParms") or dict.get(info, "/DP"))
        for n, name in enumerate(_as_list(dict.get(info, "/Filter"))):
            decoder = _decoder(
                str(_resolve(name)), _resolve(params[n]) if n < len(params) else None
            )
            if decoder is None:
                image = str(_resolve(name)) in _IMAGE_CODECS
                break
            chain.append(decoder)
        cap = min(self.stream_cap, STREAM_MAX_BYTES) if object_stream else self.stream_cap
        if not chain:
            self._spend(length, cap=None)
        else:
            self._decode(chain, data_start, length, cap, object_stream)
        if image:
            self._spend(_image_bytes(info), cap=None)

    def _decode(self, chain: list, data_start: int, length: int, cap: int, names: bool) -> None:
        produced = [0] * len(chain)
        decoded = 0
        carry = b""

        def push(level: int, data: bytes) -> Iterator[bytes]:
            if level == len(chain):
                yield data
                return
            for out in chain[level].feed(data):
                produced[level] += len(out)
                if produced[level] > cap:
                    raise self._stream_refusal(cap, names)
                yield from push(level + 1, out)

        def drain() -> Iterator[bytes]:
            for level in range(len(chain)):
                for out in chain[level].finish():
                    yield from push(level + 1, out)

        offset, left = data_start, length
        while True:
            chunk = self._read(offset, min(CHUNK_SIZE, left)) if left > 0 else b""
            outputs = push(0, chunk) if chunk else drain()
            for out in outputs:
                decoded += len(out)
                if decoded > cap:
                    raise self._stream_refusal(cap, names)
                self._spend(len(out), cap=cap)
                if names:
                    window = carry + out
                    self.found |= _scan_names(window)
                    if _JS_RE.search(window):
                        self.found.add("JavaScript")  # dictionaries are text, not noise
                    carry = window[-_OVERLAP:]
                    self.object_streams += len(out)
                    if self.object_streams > OBJECT_STREAMS_MAX_BYTES:
                        raise PdfDamaged(
                            "This PDF's object streams decompress to far more than the file "
                            "holds, which we refuse. Export it again and upload the new file."
                        )
            if not chunk:
                return
            offset += len(chunk)
            left -= len(chunk)
            self._tick()

    def _stream_refusal(self, cap: int, object_stream: bool) -> PdfRejected:
        if object_stream:
            return PdfDamaged(
                f"This PDF is damaged: one of its object streams decompresses to more than "
                f"{megabytes(cap)}. Export it again and upload the new file."
            )
        return PdfExpands(
            f"This PDF expands far beyond its size: one of its parts unpacks to more than "
            f"{megabytes(cap)} when opened, more than a PDF reader should have to hold. "
            "Export it again (for example with “Print to PDF”) and upload the new file."
        )

    def _spend(self, amount: int, *, cap: int | None) -> None:
        self.total += amount
        if self.total > self.budget:
            ratio = settings.PDF_DECODED_RATIO
            raise PdfExpands(
                f"This PDF expands far beyond its {megabytes(self.size)}: its compressed parts "
                f"unpack to more than {megabytes(self.budget)} when opened (we accept {ratio} "
                "times a file's size, at least 128 MB). Export it again (for example with "
                "“Print to PDF”) and upload the new file."
            )


# --- Before drawing page 1 -----------------------------------------------------------------
# Validation bounds what the whole file expands to, but drawing a cover inflates page 1 in
# one go (pdfium, in a Celery worker): a 64 MB stream costs pdfium more than twice that.
# Page 1 is checked first, under its own budget, and pdfium runs in a child process with
# its own memory limit (catalog.cover).
RENDER_MAX_CONTENT_BYTES = 64 * MIB
RENDER_MAX_IMAGE_PIXELS = 100_000_000


def pdf_check_first_page(file: IO[bytes], *, index: int = 0) -> None:
    """Raise PdfTooComplex if drawing page 1 (or the page at `index`, for preview images)
    could take unbounded memory or time.

    Inflates page 1's content streams and form XObjects (at most 64 MB in all) and reads
    the declared size of its images (at most 100 megapixels each), without decoding them.
    """
    budget = [RENDER_MAX_CONTENT_BYTES]
    try:
        with _quiet_pypdf(), _pypdf_limits(RENDER_MAX_CONTENT_BYTES):
            file.seek(0, io.SEEK_END)
            size = file.tell()
            file.seek(0)
            reader = PdfReader(file, xref_stream_maximum_entries=_xref_entries_max(size))
            page = reader.pages[index]
            contents = _resolve(page.get("/Contents"))
            streams = contents if isinstance(contents, ArrayObject) else [contents]
            for stream in streams:
                _spend(budget, _resolve(stream))
            _check_resources(
                _resolve(page.get("/Resources")), budget, depth=0, file=file, reader=reader
            )
    except PdfRejected:
        raise
    except _PARSE_ERRORS as exc:
        raise PdfTooComplex(
            "Page 1 of this PDF is too heavy to draw as a cover; upload a cover image instead."
        ) from exc
    finally:
        file.seek(0)


def _spend(budget: list[int], stream) -> None:
    if stream is None or not hasattr(stream, "get_data"):
        return
    budget[0] -= len(stream.get_data())
    if budget[0] < 0:
        raise PdfTooComplex(
            "Page 1 of this PDF is too heavy to draw as a cover; upload a cover image instead."
        )


def _dictionary_only(file: IO[bytes], reader: PdfReader, ref) -> DictionaryObject | None:
    """An XObject's dictionary without its data: pypdf would read a 300 MB image's bytes
    into memory just to tell us its width. Objects in object streams are never streams."""
    if not isinstance(ref, IndirectObject):
        return ref if isinstance(ref, DictionaryObject) else None
    offset = reader.xref.get(ref.generation, {}).get(ref.idnum)
    if isinstance(offset, int):
        file.seek(offset)
        buf = file.read(_WINDOW)
        header = _OBJ_HEADER_RE.match(buf)
        extent = _value_extent(buf, header.end()) if header else None
        if extent is not None:
            raw = buf[header.end() : extent[0]].strip(_WS)
            try:
                parsed = read_object(io.BytesIO(raw), reader)
            except (*_PARSE_ERRORS, AssertionError):
                parsed = None
            if isinstance(parsed, DictionaryObject):
                return parsed
    resolved = _resolve(ref)
    return resolved if isinstance(resolved, DictionaryObject) else None


def _check_resources(
    resources, budget: list[int], *, depth: int, file: IO[bytes], reader: PdfReader
) -> None:
    if not isinstance(resources, DictionaryObject) or depth > 4:
        return
    xobjects = _resolve(resources.get("/XObject"))
    if not isinstance(xobjects, DictionaryObject):
        return
    for value in dict.values(xobjects):
        xobject = _dictionary_only(file, reader, value)
        if not isinstance(xobject, DictionaryObject):
            continue
        subtype = xobject.get("/Subtype")
        if subtype == "/Image":
            pixels = int(_resolve(xobject.get("/Width", 0))) * int(
                _resolve(xobject.get("/Height", 0))
            )
            if pixels > RENDER_MAX_IMAGE_PIXELS:
                raise PdfTooComplex(
                    "Page 1 of this PDF holds an image too large to draw as a cover; "
                    "upload a cover image instead."
                )
        elif subtype == "/Form":
            form = _resolve(value)  # its content is drawn: decoded, under the budget
            _spend(budget, form)
            _check_resources(
                _resolve(form.get("/Resources")), budget, depth=depth + 1, file=file, reader=reader
            )
