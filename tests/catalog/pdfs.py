"""PDFs for the tests: good ones from catalog.samples, and every kind of bad one."""

from __future__ import annotations

import io
import os
import zlib

from pypdf import PdfReader, PdfWriter
from pypdf.actions import JavaScript

from catalog.samples import sample_pdf_bytes


def good_pdf(pages: int = 3, title: str = "A Field Guide to Ferns") -> bytes:
    return sample_pdf_bytes(title=title, subtitle="Everything about ferns", pages=pages)


def _rewrite(data: bytes, change) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    return _rewrite(good_pdf(), lambda w: w.encrypt("open-sesame"))


def javascript_pdf() -> bytes:
    return _rewrite(good_pdf(), lambda w: w.add_open_action(JavaScript("app.alert('hi')")))


def embedded_file_pdf() -> bytes:
    return _rewrite(good_pdf(), lambda w: w.add_attachment("payload.exe", b"MZ\x90\x00"))


def truncated_pdf() -> bytes:
    data = good_pdf(pages=5)
    return data[: len(data) * 2 // 3]


def corrupt_pdf() -> bytes:
    """The signature and the end marker, and noise between them."""
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + os.urandom(20_000) + b"\nstartxref\n0\n%%EOF\n"


def broken_xref_pdf() -> bytes:
    """A valid PDF whose cross-reference table is garbage: readers (and pypdf) repair it."""
    data = good_pdf()
    cut = data.rindex(b"xref")
    return data[:cut] + b"xref\n0 2\nnot a table\ntrailer\n<< >>\nstartxref\n123456\n%%EOF\n"


def object_stream_pdf(*, catalog_extra: bytes = b"") -> bytes:
    """A PDF 1.5 file whose catalog sits compressed in an object stream (/ObjStm).

    Written by hand because pypdf writes no object streams; many producers do, and a
    raw-byte scan cannot see what they compress.
    """
    content = zlib.compress(b"BT /F1 24 Tf 72 720 Td (Hello) Tj ET")
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    catalog = b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b" >>"
    pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
    )
    # Objects 1-4 live in object stream 6.
    members = [catalog, pages, page, font]
    body = b""
    offsets = []
    for obj in members:
        offsets.append(len(body))
        body += obj + b"\n"
    header = b" ".join(b"%d %d" % (n + 1, off) for n, off in enumerate(offsets)) + b"\n"
    objstm = zlib.compress(header + body)

    out = io.BytesIO()
    out.write(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    positions = {}
    positions[5] = out.tell()
    out.write(b"5 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content))
    out.write(content + b"\nendstream\nendobj\n")
    positions[6] = out.tell()
    out.write(
        b"6 0 obj\n<< /Type /ObjStm /N 4 /First %d /Length %d /Filter /FlateDecode >>\nstream\n"
        % (len(header), len(objstm))
    )
    out.write(objstm + b"\nendstream\nendobj\n")
    xref_at = out.tell()
    rows = [b"\x00" + (0).to_bytes(4, "big") + (65535).to_bytes(2, "big")]
    for n in range(1, 5):
        rows.append(b"\x02" + (6).to_bytes(4, "big") + (n - 1).to_bytes(2, "big"))
    rows.append(b"\x01" + positions[5].to_bytes(4, "big") + (0).to_bytes(2, "big"))
    rows.append(b"\x01" + positions[6].to_bytes(4, "big") + (0).to_bytes(2, "big"))
    rows.append(b"\x01" + xref_at.to_bytes(4, "big") + (0).to_bytes(2, "big"))
    xref = zlib.compress(b"".join(rows))
    out.write(
        b"7 0 obj\n<< /Type /XRef /Size 8 /W [1 4 2] /Root 1 0 R /Length %d "
        b"/Filter /FlateDecode >>\nstream\n" % len(xref)
    )
    out.write(xref + b"\nendstream\nendobj\n")
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    return out.getvalue()


def big_pdf(*, megabytes: int, pages: int = 1) -> bytes:
    """`pages` text pages, then a page holding one incompressible image of `megabytes`."""
    side = int((megabytes * 1024 * 1024 / 3) ** 0.5)
    count = pages + 1
    kids = b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
    ]
    font = b"<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
    for number in range(1, pages + 1):
        content = b"BT /F1 24 Tf 72 720 Td (Page %d) Tj ET" % number
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources %s /Contents %d 0 R >>"
            % (font, len(objects) + 2)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    image_number = len(objects) + 3
    objects.append(
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /XObject << /Im1 %d 0 R >> >> /Contents %d 0 R >>"
        % (image_number, len(objects) + 2)
    )
    drawing = b"q 595 0 0 842 0 0 cm /Im1 Do Q"
    objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(drawing), drawing))
    pixels = os.urandom(side * side * 3)
    objects.append(
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Length %d >>\nstream\n"
        % (side, side, len(pixels))
        + pixels
        + b"\nendstream"
    )
    return assemble(objects)


def upload(data: bytes, name: str = "ferns.pdf", content_type: str = "application/pdf"):
    """What a form hands the services: an uploaded file."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (300, 400)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 60, 90)).save(out, format=fmt)
    return out.getvalue()


def assemble(objects: list[bytes], *, version: bytes = b"1.4") -> bytes:
    """A classic PDF from object bodies (object n is objects[n-1]; object 1 is the catalog)."""
    out = io.BytesIO()
    out.write(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref_at = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    return out.getvalue()


def stream_bomb_pdf(*, inflated_megabytes: int = 1024) -> bytes:
    """One page whose content stream is ~1 MB compressed and `inflated_megabytes` inflated."""
    squeeze = zlib.compressobj(9)
    block = b" " * (1024 * 1024)
    bomb = b"".join(squeeze.compress(block) for _ in range(inflated_megabytes)) + squeeze.flush()
    return assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(bomb) + bomb + b"\nendstream",
        ]
    )


def stream_pdf(data: bytes, filters: bytes = b"/FlateDecode") -> bytes:
    """One page whose content stream is `data`, decoded by `filters` (raw PDF syntax)."""
    return assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< /Length %d /Filter %s >>\nstream\n" % (len(data), filters) + data + b"\nendstream",
        ]
    )


def incremental_update(data: bytes | None = None) -> bytes:
    """`data` (a good PDF) plus an incremental update written by pypdf: two `%%EOF`."""
    original = data or good_pdf(pages=1)
    writer = PdfWriter(io.BytesIO(original), incremental=True)
    writer.add_metadata({"/Title": "Updated"})
    out = io.BytesIO()
    writer.write(out)
    updated = out.getvalue()
    assert updated.startswith(original) and updated.count(b"%%EOF") == 2
    return updated
