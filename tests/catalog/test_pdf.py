"""catalog.pdf: which uploads we sell, and what the seller is told about the others."""

from __future__ import annotations

import hashlib
import io
import time

import pytest

from catalog import pdf
from catalog.pdf import (
    PdfActiveContent,
    PdfDamaged,
    PdfEmbeddedFiles,
    PdfEmpty,
    PdfEncrypted,
    PdfInfo,
    PdfNotPdf,
    PdfTooLarge,
    PdfTooManyPages,
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


def test_a_stream_bomb_is_never_decompressed():
    """A page whose content inflates to 1 GB validates in a blink: we never inflate it."""
    import tracemalloc

    data = pdfs.stream_bomb_pdf(inflated_megabytes=1024)
    assert len(data) < 2 * 1024 * 1024
    tracemalloc.start()
    started = time.perf_counter()
    info = validate(data)
    elapsed = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert info.page_count == 1
    assert elapsed < 2
    assert peak < 32 * 1024 * 1024


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
