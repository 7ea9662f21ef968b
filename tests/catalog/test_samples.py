"""catalog.samples: the demo store's PDFs are real PDFs that pass our own validation."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context
from pypdf import PdfReader

from catalog.models import Product
from catalog.pdf import pdf_validate
from catalog.samples import sample_pdf_bytes
from catalog.tasks import cover_render
from tests.catalog.pdfs import upload


def test_a_sample_has_the_pages_asked_for_with_text_on_each():
    data = sample_pdf_bytes(title="Sourdough at Home", subtitle="Weeknight bread", pages=6)
    reader = PdfReader(io.BytesIO(data), strict=True)
    assert len(reader.pages) == 6
    assert "Sourdough at Home" in reader.pages[0].extract_text()
    for number, page in enumerate(reader.pages[1:], start=2):
        text = page.extract_text()
        assert f"Page {number} of 6" in text
        assert f"Chapter {number - 1}" in text
    assert reader.metadata.title == "Sourdough at Home"


def test_a_sample_passes_validation():
    data = sample_pdf_bytes(title="Ferns", subtitle="A guide", pages=3)
    assert pdf_validate(io.BytesIO(data)).page_count == 3


def test_the_title_page_is_coloured_and_the_others_are_white():
    data = sample_pdf_bytes(title="Ferns", subtitle="A guide", pages=2)
    document = pdfium.PdfDocument(data)
    try:
        title = document[0].render(scale=0.3).to_pil().convert("RGB")
        text = document[1].render(scale=0.3).to_pil().convert("RGB")
    finally:
        document.close()
    assert title.getpixel((5, 5)) != (255, 255, 255)
    assert text.getpixel((5, 5)) == (255, 255, 255)


def test_titles_outside_latin1_and_pdf_syntax_characters_are_safe():
    data = sample_pdf_bytes(title="Ünïcødé (draft) \\ 日本", subtitle="a) b( c\\", pages=1)
    assert pdf_validate(io.BytesIO(data)).page_count == 1


def test_a_sample_has_at_least_one_page():
    with pytest.raises(ValueError, match="at least one page"):
        sample_pdf_bytes(title="x", subtitle="y", pages=0)


def test_the_cover_task_runs_in_the_store_it_was_queued_from(alice_store):
    from catalog.services import product_create

    with schema_context(alice_store.schema_name):
        product = product_create(
            title="Ferns",
            description="",
            price_text="5",
            currency="usd",
            file=upload(sample_pdf_bytes(title="Ferns", subtitle="", pages=2)),
        )
        assert cover_render.delay(product.pk).get() == Product.CoverState.READY
        assert cover_render.delay(10**9).get() == "gone"


def test_catalog_migrations_match_the_models(db):
    call_command("makemigrations", "catalog", "--check", "--dry-run", verbosity=0)
