"""catalog.pdf: which uploads we sell, and what the seller is told about the others."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import time
import zlib

import pytest

from catalog import pdf
from catalog.pdf import (
    PdfActiveContent,
    PdfBadName,
    PdfDamaged,
    PdfEmbeddedFiles,
    PdfEmpty,
    PdfEncrypted,
    PdfExpands,
    PdfInfo,
    PdfNotPdf,
    PdfTooComplex,
    PdfTooLarge,
    PdfTooManyPages,
    PdfTrailingData,
    PdfTruncated,
    pdf_validate,
)
from tests.catalog import pdfs


def validate(data: bytes) -> PdfInfo:
    return pdf_validate(io.BytesIO(data))


def test_a_good_pdf_gives_its_pages_size_and_sha256():
    data = pdfs.good_pdf(pages=4)
    assert validate(data) == PdfInfo(
        page_count=4, size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )


def test_a_pdf_with_a_repairable_cross_reference_table_is_accepted():
    assert validate(pdfs.broken_xref_pdf()).page_count == 3


def test_a_pdf_with_object_streams_is_read():
    assert validate(pdfs.object_stream_pdf()).page_count == 1


@pytest.mark.parametrize(
    ("data", "refusal", "says"),
    [
        (b"", PdfEmpty, "empty (0 bytes)"),
        (b"PK\x03\x04" + b"\x00" * 2000, PdfNotPdf, "not a PDF"),
        (b"<html><script>alert(1)</script></html>", PdfNotPdf, "not a PDF"),
        (pdfs.truncated_pdf(), PdfTruncated, "incomplete"),
        (pdfs.corrupt_pdf(), PdfDamaged, "damaged"),
        (pdfs.encrypted_pdf(), PdfEncrypted, "password-protected"),
        (pdfs.javascript_pdf(), PdfActiveContent, "JavaScript"),
        (pdfs.embedded_file_pdf(), PdfEmbeddedFiles, "embedded files"),
    ],
    ids=["empty", "zip", "html", "truncated", "corrupt", "encrypted", "javascript", "attachment"],
)
def test_bad_files_are_refused_with_a_reason(data, refusal, says):
    with pytest.raises(refusal) as caught:
        validate(data)
    assert says in caught.value.message


def test_javascript_hidden_with_name_escapes_is_found():
    data = pdfs.good_pdf().replace(
        b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /J#61va#53cript /JS (x) >>", 1
    )
    with pytest.raises(PdfActiveContent):
        validate(data)


def test_a_launch_action_is_refused():
    data = pdfs.good_pdf().replace(
        b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /Launch /F (calc.exe) >>", 1
    )
    with pytest.raises(PdfActiveContent, match="launches programs"):
        validate(data)


@pytest.mark.parametrize(
    ("catalog", "refusal"),
    [
        (b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >>", PdfActiveContent),
        (b"/AA << /WC << /S /JavaScript /JS (x) >> >>", PdfActiveContent),
        (b"/Names << /EmbeddedFiles << /Names [] >> >>", PdfEmbeddedFiles),
    ],
    ids=["openaction", "additional-actions", "embedded-files"],
)
def test_what_hides_in_compressed_object_streams_is_found(catalog, refusal):
    data = pdfs.object_stream_pdf(catalog_extra=catalog)
    assert b"JavaScript" not in data and b"EmbeddedFiles" not in data  # compressed away
    with pytest.raises(refusal):
        validate(data)


def test_a_file_over_the_size_cap_is_refused_before_parsing(settings):
    settings.PDF_MAX_UPLOAD_BYTES = 2048
    with pytest.raises(PdfTooLarge, match="larger than 2 KB"):
        validate(pdfs.good_pdf(pages=5))


def test_a_pdf_over_the_page_cap_is_refused(settings):
    settings.PDF_MAX_PAGES = 3
    with pytest.raises(PdfTooManyPages, match="has 4 pages; the most we accept is 3 pages"):
        validate(pdfs.good_pdf(pages=4))


def test_a_large_broken_pdf_is_not_repaired_in_memory(settings):
    settings.PDF_REPAIR_MAX_BYTES = 1000
    with pytest.raises(PdfDamaged, match="too large to repair"):
        validate(pdfs.broken_xref_pdf())


def test_a_stream_bomb_is_refused_after_inflating_no_more_than_the_bound():
    """A 1 MB page that inflates to 1 GB: refused once 128 MB are counted, one 1 MiB
    chunk of output at a time, so the validator's own memory stays small."""
    import tracemalloc

    data = pdfs.stream_bomb_pdf(inflated_megabytes=1024)
    assert len(data) < 2 * 1024 * 1024
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(PdfExpands) as caught:
        validate(data)
    elapsed = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"\n1 GiB bomb ({len(data):,} bytes) refused in {elapsed:.2f} s, peak {peak / 2**20:.1f} MiB"
    )
    assert caught.value.message.startswith("This PDF expands far beyond its 1,019 KB")
    assert "more than 128 MB" in caught.value.message
    assert elapsed < 2
    assert peak < 16 * 1024 * 1024  # measured: ~7 MiB (1 MiB chunks in and out)


def test_the_decoded_size_is_counted_exactly_for_each_filter(settings):
    """Each decoder counts what a reader would hold: one byte under the bound is fine,
    the bound itself is refused."""
    settings.PDF_DECODED_MIN_BYTES = 0
    settings.PDF_DECODED_RATIO = 10_000
    payload = b"BT /F1 12 Tf 72 720 Td (Hello) Tj ET\n" * 20_000  # 740,000 bytes
    run_length = b"".join(
        bytes([len(payload[i : i + 100]) - 1]) + payload[i : i + 100]
        for i in range(0, len(payload), 100)
    )
    encodings = {
        b"/FlateDecode": zlib.compress(payload),
        b"/Fl": zlib.compress(payload),
        b"/RunLengthDecode": run_length + b"\x80",
        b"/ASCIIHexDecode": payload.hex().encode() + b">",
        b"/ASCII85Decode": base64.a85encode(payload) + b"~>",
        b"[/ASCII85Decode /FlateDecode]": base64.a85encode(zlib.compress(payload)) + b"~>",
        b"/LZWDecode": lzw_encode(payload),
    }
    for filters, encoded in encodings.items():
        data = pdfs.stream_pdf(encoded, filters)
        settings.PDF_DECODED_STREAM_MAX_BYTES = len(payload)
        assert validate(data).page_count == 1, filters
        settings.PDF_DECODED_STREAM_MAX_BYTES = len(payload) - 1
        with pytest.raises(PdfExpands, match="one of its parts unpacks to more than"):
            validate(data)
            pytest.fail(f"{filters!r} was not counted")


def lzw_encode(data: bytes) -> bytes:
    """A plain LZW encoder (EarlyChange 1), as TIFF and PDF 1.0 producers wrote them."""
    table = {bytes([i]): i for i in range(256)}
    width, next_code, bits, count, out = 9, 258, 0, 0, bytearray()

    def emit(code: int) -> None:
        nonlocal bits, count
        bits = (bits << width) | code
        count += width
        while count >= 8:
            count -= 8
            out.append((bits >> count) & 0xFF)
        bits &= (1 << count) - 1

    emit(256)
    word = b""
    for byte in data:
        candidate = word + bytes([byte])
        if candidate in table:
            word = candidate
            continue
        emit(table[word])
        table[candidate] = next_code
        next_code += 1
        # The decoder adds each entry one code later, so it widens at 511, we at 512.
        if next_code >= 1 << width and width < 12:
            width += 1
        if next_code >= 4094:
            emit(256)
            table = {bytes([i]): i for i in range(256)}
            width, next_code = 9, 258
        word = bytes([byte])
    emit(table[word])
    emit(257)
    if count:
        out.append((bits << (8 - count)) & 0xFF)
    return bytes(out)


def test_the_whole_file_may_expand_to_100_times_its_size(settings):
    settings.PDF_DECODED_MIN_BYTES = 1024
    data = pdfs.stream_pdf(zlib.compress(b" " * 50 * len(pdfs.stream_pdf(b"x" * 300))))
    assert validate(data).page_count == 1
    settings.PDF_DECODED_RATIO = 10
    with pytest.raises(PdfExpands, match="we accept 10 times a file's size"):
        validate(data)


def test_an_image_codec_counts_the_declared_size_of_its_image(settings):
    settings.PDF_DECODED_MIN_BYTES = 1024
    image = (
        b"<< /Type /XObject /Subtype /Image /Width 20000 /Height 20000 /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Filter /DCTDecode /Length 4 >>\nstream\n\xff\xd8\xff\xd9\nendstream"
    )
    data = pdfs.assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
            image,
        ]
    )
    with pytest.raises(PdfExpands):
        validate(data)


def test_an_incremental_update_is_a_valid_pdf():
    data = pdfs.incremental_update()
    assert validate(data).page_count == 1


def test_an_incremental_update_written_by_pdfium_is_valid(tmp_path):
    import pypdfium2 as pdfium

    original = tmp_path / "original.pdf"
    original.write_bytes(pdfs.good_pdf(pages=2))
    document = pdfium.PdfDocument(str(original))
    document.new_page(200, 200)
    updated = io.BytesIO()
    document.save(updated, flags=1)  # FPDF_INCREMENTAL: the original bytes, then the update
    document.close()
    data = updated.getvalue()
    assert data.startswith(original.read_bytes()) and data.count(b"%%EOF") == 2
    assert validate(data).page_count == 3


@pytest.mark.parametrize("tail", [b"\n", b"\r\n  \n", b"\x00" * 512, b" " * 3000])
def test_whitespace_after_the_end_marker_is_fine(tail):
    assert validate(pdfs.good_pdf(pages=1) + tail).page_count == 1


@pytest.mark.parametrize(
    ("appended", "says"),
    [
        (b"PK\x03\x04" + b"\x00" * 100, "This PDF has a ZIP archive appended after its end"),
        (b"<html><script>alert(1)</script></html>", "This PDF has a web page (HTML) appended"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "This PDF has a PNG image appended"),
        (bytes(range(256)) * 8, "This PDF has 2 KB of other data appended"),
        (b"%%EOF" + b"\x00\xff" * 10, "This PDF has 20 bytes of other data appended"),
    ],
    ids=["zip", "html", "png", "binary", "after-a-second-marker"],
)
def test_data_after_the_end_marker_is_refused_and_named(appended, says):
    with pytest.raises(PdfTrailingData) as caught:
        validate(pdfs.good_pdf(pages=1) + appended)
    assert caught.value.message.startswith(says), caught.value.message


def test_an_update_cut_short_is_incomplete_not_trailing_data():
    with pytest.raises(PdfTruncated, match="its last update stops before its end marker"):
        validate(pdfs.incremental_update()[:-30])


def test_random_bytes_after_a_pdf_header_are_damaged_not_cut_short():
    with pytest.raises(PdfDamaged) as caught:
        validate(b"%PDF-1.7\n" + os.urandom(50_000))
    assert "cut short" not in caught.value.message
    assert "no PDF content" in caught.value.message


def test_a_truly_truncated_pdf_is_told_it_was_cut_short():
    with pytest.raises(PdfTruncated, match="cut short"):
        validate(pdfs.truncated_pdf())


@pytest.mark.parametrize(
    ("data", "looks"),
    [
        (pdfs.image_bytes("PNG"), "a PNG image"),
        (pdfs.image_bytes("JPEG"), "a JPEG image"),
        (pdfs.image_bytes("GIF"), "a GIF image"),
        (pdfs.image_bytes("WEBP"), "a WebP image"),
        (b"<!DOCTYPE html><html><body>Invoice</body></html>", "a web page (HTML)"),
        (b"PK\x03\x04\x14\x00\x00\x00" + b"\x00" * 100, "a ZIP archive"),
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 22 + b"word/document.xml", "a Word document"),
        (b"Dear customer,\nyour invoice is attached.\n", "plain text"),
        ("Facture n° 42 — réglée\n".encode(), "plain text"),
        (b"MZ\x90\x00\x03" + b"\x00" * 100, "a Windows program"),
        (b"{\\rtf1\\ansi hello}", "an RTF document"),
    ],
    ids=["png", "jpeg", "gif", "webp", "html", "zip", "docx", "text", "accents", "exe", "rtf"],
)
def test_a_file_that_is_not_a_pdf_says_what_it_looks_like(data, looks):
    with pytest.raises(PdfNotPdf) as caught:
        validate(data)
    assert caught.value.message.startswith(f"This file is not a PDF: it looks like {looks}")


def test_unknown_bytes_are_simply_not_a_pdf():
    with pytest.raises(PdfNotPdf, match=r"does not start with the PDF signature"):
        validate(bytes(range(256)) * 20)


def test_the_signature_must_be_at_offset_0():
    with pytest.raises(PdfNotPdf, match="a PDF must start with “%PDF-”"):
        validate(b"\n" + pdfs.good_pdf(pages=1))


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("invoice.pdf.exe", "“invoice.pdf.exe” ends in “.exe”, not “.pdf”"),
        ("report.txt", "“report.txt” ends in “.txt”, not “.pdf”"),
        ("guide", "“guide” has no “.pdf” at the end of its name"),
        (".pdf", "“.pdf” has no “.pdf” at the end of its name"),
        ("", "“This file” has no “.pdf”"),
    ],
)
def test_a_name_that_does_not_end_in_pdf_is_refused(name, says):
    with pytest.raises(PdfBadName) as caught:
        pdf.pdf_check_name(name)
    assert caught.value.message.startswith(says), caught.value.message


@pytest.mark.parametrize("name", ["guide.pdf", "GUIDE.PDF", "Guide.Pdf", "a.b.pdf", "x.pdf "])
def test_names_ending_in_pdf_in_any_case_are_fine(name):
    pdf.pdf_check_name(name)


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (200 * 1024 * 1024, "200 MB"),
        (201 * 1024 * 1024, "201 MB"),
        (1536 * 1024, "1.5 MB"),
        (1024 * 1024, "1 MB"),
        (1024, "1 KB"),
        (1000 * 1000 * 200, "191 MB"),
    ],
)
def test_sizes_are_shown_as_windows_shows_them(size, shown):
    assert pdf.megabytes(size) == shown


@pytest.mark.parametrize(
    ("size", "shown"),
    [(201 * 1024 * 1024, "201 MB"), (2 * 1024 * 1024 + 50_000, "2.05 MB"), (1025, "1,025 bytes")],
)
def test_a_size_over_a_limit_never_reads_the_same_as_the_limit(size, shown):
    limit = {1025: 1024}.get(
        size, 2 * 1024 * 1024 if size < 10 * 1024 * 1024 else 200 * 1024 * 1024
    )
    assert pdf.megabytes_over(size, limit) == shown


def test_the_help_text_names_the_limits_and_the_refusals():
    text = pdf.help_text()
    assert "200 MB" in text and "5,000 pages" in text
    assert "JavaScript" in text and "embedded files" in text


@pytest.mark.slow
def test_a_100_mb_pdf_validates_quickly_and_in_bounded_memory(tmp_path):
    """Measured: ~0.2 s for 100 MB (one big image) on a laptop-class CPU."""
    import tracemalloc

    path = tmp_path / "big.pdf"
    path.write_bytes(pdfs.big_pdf(megabytes=100, pages=50))
    size = path.stat().st_size
    assert size > 100 * 1024 * 1024
    tracemalloc.start()
    started = time.perf_counter()
    with path.open("rb") as fh:
        info = pdf_validate(fh)
    elapsed = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"\n100 MB PDF ({size:,} bytes, {info.page_count} pages) validated in {elapsed:.2f} s, "
        f"peak Python memory {peak / 1024 / 1024:.1f} MB"
    )
    assert info.page_count == 51 and info.size == size
    assert elapsed < 10
    assert peak < 32 * 1024 * 1024  # read in 1 MiB chunks, never whole


def test_javascript_at_the_end_of_an_action_chain_is_found():
    data = pdfs.object_stream_pdf(
        catalog_extra=b"/OpenAction << /S /GoTo /D [3 0 R /Fit] /Next [<< /S /JavaScript /JS (x) >>] >>"
    )
    with pytest.raises(PdfActiveContent):
        validate(data)


def test_an_open_action_that_only_shows_page_one_is_fine():
    data = pdfs.object_stream_pdf(catalog_extra=b"/OpenAction [3 0 R /Fit]")
    assert validate(data).page_count == 1


def test_a_check_that_runs_too_long_gives_up_with_a_reason(settings):
    settings.PDF_CHECK_MAX_SECONDS = 0
    with pytest.raises(PdfTooComplex, match="takes too long to check"):
        validate(pdfs.good_pdf(pages=3))


def test_a_file_with_more_objects_than_we_check_is_refused(settings):
    settings.PDF_MAX_OBJECTS = 10
    with pytest.raises(PdfTooComplex, match="holds more than 10 objects"):
        validate(pdfs.good_pdf(pages=30))


def test_a_cross_reference_declaring_more_objects_than_the_file_can_hold_is_refused(settings):
    settings.PDF_XREF_MIN_ENTRIES = 10
    data = pdfs.good_pdf(pages=1)
    size = data[data.rindex(b"/Size ") :].split()[1]
    data = data.replace(b"/Size " + size, b"/Size 99999", 1)
    with pytest.raises(PdfDamaged, match="declares more objects than a file of"):
        validate(data)
