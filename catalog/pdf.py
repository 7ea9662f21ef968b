"""Is this upload a PDF we are willing to sell? One pass to find out, with a reason if not.

What we check, in order, and what the seller is told when a check fails:

1. Size: at most ``settings.PDF_MAX_UPLOAD_BYTES`` (200 MB by default), at least one byte.
2. Signature: ``%PDF-`` in the first 1024 bytes (what readers accept), ``%%EOF`` in the
   last 1024 bytes (a file without it was cut short on the way).
3. A real parse with pypdf, strict first. A file whose cross-reference table is broken
   is repaired (pypdf rebuilds it by scanning the file) only up to ``PDF_REPAIR_MAX_BYTES``
   (64 MB), because the repair holds the whole file in memory; bigger broken files are
   refused with a hint to re-export them.
4. Not encrypted or password-protected: we stamp buyers' copies and render covers, and
   buyers must be able to open what they paid for.
5. Between 1 and ``PDF_MAX_PAGES`` (5,000) pages, each a well-formed page.
6. No active content and no embedded files — **refused, not stripped**. A marketplace
   delivers the seller's bytes unchanged to buyers who trust the platform, so a PDF that
   runs JavaScript (``/JavaScript`` or ``/JS`` actions, including ``/OpenAction`` and
   ``/AA`` triggers), launches programs (``/Launch``), carries Flash/RichMedia or XFA forms,
   or smuggles files (``/EmbeddedFiles``, ``/EmbeddedFile`` streams, ``/FileAttachment``
   annotations) is refused with a message naming what was found. Silently rewriting the file
   would change what the seller published (and what its sha256 says); the seller can
   re-export a clean PDF instead ("Print to PDF" or "Save as PDF/A" removes these).

Resources stay bounded whatever the upload:

- The file is read in 1 MiB chunks, once, for the size, the sha256, the signature and a
  scan of the raw bytes for the names above (``#xx`` escapes such as ``/J#61vaScript``
  included). A 200 MB upload is never held in memory at once.
- pypdf reads lazily from the (temporary) file; it only decompresses cross-reference
  streams and object streams (``/ObjStm``, where compressed dictionaries hide, which the
  name scan then reads too), under tightened pypdf limits (32 MB per stream, 128 MB in
  all). Page contents and images are never decompressed here: a zip bomb in a content
  stream costs nothing to validate.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from pypdf import PdfReader, apply_configuration
from pypdf.errors import LimitReachedError, PyPdfError
from pypdf.filters import decode_stream_data
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

CHUNK_SIZE = 1024 * 1024
# settings.PDF_MAX_PAGES and settings.PDF_REPAIR_MAX_BYTES are read per call.
# Decompression budget for the streams we do decode (xref and object streams).
STREAM_MAX_BYTES = 32 * 1024 * 1024
OBJECT_STREAMS_MAX_BYTES = 128 * 1024 * 1024

HELP_TEXT = (
    "A PDF up to {size}, at most {pages:,} pages, not password-protected. "
    "PDFs with JavaScript, launch actions or embedded files are refused: "
    "re-export them with “Print to PDF” first."
)


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


class PdfNotPdf(PdfRejected):
    code = "pdf_not_pdf"


class PdfTruncated(PdfRejected):
    code = "pdf_truncated"


class PdfDamaged(PdfRejected):
    code = "pdf_damaged"


class PdfEncrypted(PdfRejected):
    code = "pdf_encrypted"


class PdfNoPages(PdfRejected):
    code = "pdf_no_pages"


class PdfTooManyPages(PdfRejected):
    code = "pdf_too_many_pages"


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
    return HELP_TEXT.format(size=_megabytes(settings.PDF_MAX_UPLOAD_BYTES), pages=max_pages())


def _megabytes(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.0f} MB"
    return f"{max(1, size // 1024)} KB"


# --- The raw name scan ---------------------------------------------------------------------
# Names are matched with every character either literal or #xx-escaped, and must end at a
# PDF delimiter. Only names of six letters or more are scanned in raw bytes: shorter ones
# (/JS, /EF, /AA) turn up by chance in compressed image data; they are checked on the
# parsed structure instead.
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


_NAMES_RE = re.compile(
    b"/(?:"
    + b"|".join(
        b"(?P<%s>%s)" % (name.encode(), _name_pattern(name))
        for name in sorted(_DANGEROUS_NAMES, key=len, reverse=True)
    )
    + rb")(?=[\x00\t\n\x0c\r /\[\]<>(){}%]|$)"
)
_OVERLAP = 64  # longer than any escaped name we look for
_JS_RE = re.compile(b"/" + _name_pattern("JS") + rb"(?=[\x00\t\n\x0c\r /\[\]<>(){}%]|$)")


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


@dataclass
class _Pass:
    size: int
    sha256: str
    head: bytes
    tail: bytes
    names: set[str]


def _read_through(file: IO[bytes], limit: int) -> _Pass:
    digest = hashlib.sha256()
    size = 0
    head = b""
    carry = b""
    names: set[str] = set()
    file.seek(0)
    while chunk := file.read(CHUNK_SIZE):
        size += len(chunk)
        if size > limit:
            raise PdfTooLarge(
                f"This file is larger than {_megabytes(limit)}, the most a product PDF may be."
            )
        if not head:
            head = chunk[:1024]
            if b"%PDF-" not in head:
                raise PdfNotPdf(
                    "This file is not a PDF (it does not start with the PDF signature), "
                    "whatever its name says. Export your document as PDF and upload that."
                )
        digest.update(chunk)
        window = carry + chunk
        names |= _scan_names(window)
        carry = window[-max(_OVERLAP, 1024) :]
    if size == 0:
        raise PdfEmpty("This file is empty (0 bytes). Choose the PDF again and upload it.")
    return _Pass(size=size, sha256=digest.hexdigest(), head=head, tail=carry[-1024:], names=names)


def _open(file: IO[bytes], *, strict: bool) -> PdfReader:
    file.seek(0)
    return PdfReader(file, strict=strict)


def _parse(file: IO[bytes], size: int) -> PdfReader:
    try:
        return _open(file, strict=True)
    except (
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        RecursionError,
    ):
        pass
    if size > settings.PDF_REPAIR_MAX_BYTES:
        raise PdfDamaged(
            "This PDF is damaged (its cross-reference table is broken) and too large to repair "
            "here. Open it in a PDF reader, save or export it again, and upload the new file."
        )
    try:
        reader = _open(file, strict=False)
        reader.trailer["/Root"].get_object()["/Pages"].get_object()
    except Exception as exc:
        raise PdfDamaged(
            "This PDF is damaged and cannot be read (we could not find its pages). "
            "Open it in a PDF reader, save or export it again, and upload the new file."
        ) from exc
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


_SCRIPT_ACTIONS = (NameObject("/JavaScript"), NameObject("/Launch"))


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


def _object_stream_names(reader: PdfReader) -> set[str]:
    """Dictionaries compressed in object streams: decode each (bounded) and scan it."""
    found: set[str] = set()
    budget = OBJECT_STREAMS_MAX_BYTES
    # xref_objStm maps each compressed object to (object stream number, index).
    stream_numbers = {number for number, _index in reader.xref_objStm.values()}
    for number in sorted(stream_numbers):
        stream = reader.get_object(number)
        # decode_stream_data, not get_data(): get_data() keeps every decoded stream cached
        # on the reader, so the peak was the whole budget (and more), not one stream.
        data = decode_stream_data(stream) if stream is not None else b""
        budget -= len(data)
        if budget < 0:
            raise PdfDamaged(
                "This PDF's object streams decompress to far more than the file holds, "
                "which we refuse. Export it again and upload the new file."
            )
        found |= _scan_names(data)
        # Decompressed dictionaries are text, not image noise: /JS is safe to look for here.
        if _JS_RE.search(data):
            found.add("JavaScript")
    return found


def pdf_validate(file: IO[bytes]) -> PdfInfo:
    """Validate a PDF from a binary, seekable file; raise a PdfRejected subclass if refused."""
    limit = settings.PDF_MAX_UPLOAD_BYTES
    declared = getattr(file, "size", None)
    if declared is not None and declared > limit:
        raise PdfTooLarge(
            f"This file is larger than {_megabytes(limit)}, the most a product PDF may be."
        )
    scanned = _read_through(file, limit)
    if b"%%EOF" not in scanned.tail:
        raise PdfTruncated(
            "This PDF is incomplete: it stops before its end marker, so the upload or the "
            "export was cut short. Upload the complete file again."
        )
    with (
        _quiet_pypdf(),
        apply_configuration(
            zlib_maximum_output_length=STREAM_MAX_BYTES,
            lzw_maximum_output_length=STREAM_MAX_BYTES,
            run_length_maximum_output_length=STREAM_MAX_BYTES,
            brotli_maximum_output_length=STREAM_MAX_BYTES,
            stream_decoding_work_maximum_length=STREAM_MAX_BYTES * 4,
            # Never flatten more pages than we accept: a page tree that lists the same
            # node twice at each level would otherwise be walked to pypdf's 2,000,000.
            page_tree_maximum_page_entries=max_pages() + 1,
        ),
    ):
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
            found |= _object_stream_names(reader)
        except PdfRejected:
            raise
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise PdfDamaged(
                "This PDF is damaged and cannot be read. Export it again and upload the new file."
            ) from exc
    _refuse_dangerous(found)
    file.seek(0)
    return PdfInfo(page_count=page_count, size=scanned.size, sha256=scanned.sha256)


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
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
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


# --- Before drawing page 1 -----------------------------------------------------------------
# Validation never inflates page content, but drawing a cover does (pdfium, in a Celery
# worker): a 1 MB stream that inflates to 1 GB costs pdfium 2 GB of memory. Page 1 is
# checked first, under the same kind of budget.
RENDER_MAX_CONTENT_BYTES = 64 * 1024 * 1024
RENDER_MAX_IMAGE_PIXELS = 100_000_000


class PdfTooComplex(PdfRejected):
    code = "pdf_too_complex"


def pdf_check_first_page(file: IO[bytes]) -> None:
    """Raise PdfTooComplex if drawing page 1 could take unbounded memory or time.

    Inflates page 1's content streams and form XObjects (at most 64 MB in all) and reads
    the declared size of its images (at most 100 megapixels each), without decoding them.
    """
    budget = [RENDER_MAX_CONTENT_BYTES]
    try:
        with (
            _quiet_pypdf(),
            apply_configuration(
                zlib_maximum_output_length=RENDER_MAX_CONTENT_BYTES,
                lzw_maximum_output_length=RENDER_MAX_CONTENT_BYTES,
                run_length_maximum_output_length=RENDER_MAX_CONTENT_BYTES,
                brotli_maximum_output_length=RENDER_MAX_CONTENT_BYTES,
                stream_decoding_work_maximum_length=RENDER_MAX_CONTENT_BYTES,
            ),
        ):
            file.seek(0)
            page = PdfReader(file).pages[0]
            contents = _resolve(page.get("/Contents"))
            streams = contents if isinstance(contents, ArrayObject) else [contents]
            for stream in streams:
                _spend(budget, _resolve(stream))
            _check_resources(_resolve(page.get("/Resources")), budget, depth=0)
    except PdfRejected:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
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


def _check_resources(resources, budget: list[int], *, depth: int) -> None:
    if not isinstance(resources, DictionaryObject) or depth > 4:
        return
    xobjects = _resolve(resources.get("/XObject"))
    if not isinstance(xobjects, DictionaryObject):
        return
    for value in xobjects.values():
        xobject = _resolve(value)
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
            _spend(budget, xobject)
            _check_resources(_resolve(xobject.get("/Resources")), budget, depth=depth + 1)
