"""Covers drawn from page 1: only from files that pass today's checks, and by pdfium in a
child process whose memory is limited, so the worker's own memory does not move."""

from __future__ import annotations

import io
import logging
import resource

from PIL import Image

from catalog.models import Product
from catalog.services import product_cover_render
from tests.catalog import pdfs
from tests.factories import product_with_file
from tests.security.test_hostile_uploads import Peak

MIB = 1024 * 1024


def test_a_cover_is_drawn_in_a_child_process_and_the_worker_stays_small(alice_store, in_alice):
    product = product_with_file(alice_store, data=pdfs.big_pdf(megabytes=40, pages=0))
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    with Peak() as worker:
        product = product_cover_render(product_id=product.pk)
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(
        f"\ncover of a page holding a 40 MB image: worker peak +{worker.bytes / MIB:.0f} MiB, "
        f"pdfium's child peak {max(child, children_before) / MIB:.0f} MiB, {worker.seconds:.2f} s"
    )
    assert product.cover_state == Product.CoverState.READY
    with product.cover.open("rb") as cover:
        image = Image.open(io.BytesIO(cover.read()))
        assert image.format == "PNG" and image.width == 600
    # The image is decoded in the child (~130 MiB there), not in the worker.
    assert child > 100 * MIB
    assert worker.bytes < 16 * MIB


def test_a_cover_that_needs_more_memory_than_the_child_may_have_fails_quietly(
    alice_store, in_alice, settings, caplog
):
    settings.COVER_RENDER_MEMORY_BYTES = 96 * MIB
    product = product_with_file(alice_store, data=pdfs.big_pdf(megabytes=60, pages=0))
    with caplog.at_level(logging.WARNING), Peak() as worker:
        product = product_cover_render(product_id=product.pk)
    assert product.cover_state == Product.CoverState.FAILED
    assert "pdfium could not draw page 1" in caplog.text
    assert worker.bytes < 16 * MIB


def test_a_stored_file_that_fails_todays_checks_never_reaches_pdfium(alice_store, in_alice, caplog):
    # Stored before the end-of-file check existed: a PDF with a ZIP after its end.
    data = pdfs.good_pdf(pages=1) + b"PK\x03\x04" + b"\x00" * 200
    product = product_with_file(alice_store, data=data)
    with caplog.at_level(logging.WARNING):
        product = product_cover_render(product_id=product.pk)
    assert product.cover_state == Product.CoverState.FAILED
    assert "PdfTrailingData" in caplog.text
    assert "pdfium" not in caplog.text
