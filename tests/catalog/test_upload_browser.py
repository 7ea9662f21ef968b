"""Alice uploads a PDF in headless Chromium: the progress bar moves, a good file lands on
the product page, a refused one shows its reason in place (static/js/upload.js)."""

from __future__ import annotations

import re
import shutil

import pytest
from django.db import connections
from django_tenants.utils import schema_context

from catalog.models import Product
from tests.browsers import chromium_launch, committed_store, log_in
from tests.catalog import pdfs

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs chromium"),
]


@pytest.fixture
def committed_alice(transactional_db):
    with committed_store("Alice's Guides") as (owner, store):
        yield owner, store


@pytest.fixture
def page(live_server, committed_alice, settings, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM reads the test makes
    # meanwhile are plain blocking calls, which is fine here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    # Chromium refuses cookies for Domain=.localhost; host-only cookies for this test.
    settings.SESSION_COOKIE_DOMAIN = None
    settings.CSRF_COOKIE_DOMAIN = None
    owner, store = committed_alice
    port = live_server.url.rsplit(":", 1)[1]
    with sync_playwright() as p:
        browser = chromium_launch(p)
        context = browser.new_context(base_url=f"http://{store.host}:{port}")
        log_in(context, owner, store.host)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: (
                errors.append(msg.text)
                if msg.type == "error" and "Failed to load resource" not in msg.text  # favicon
                else None
            ),
        )
        yield page
        # ORM calls made inside Playwright's loop got a connection of their own (Django's
        # connections are per context): close it, or it outlives the test database.
        connections.close_all()
        browser.close()
        assert errors == []  # no script errors, no CSP violations


def test_a_large_pdf_uploads_with_progress_and_lands_on_its_page(page, committed_alice, tmp_path):
    _owner, store = committed_alice
    big = tmp_path / "big guide.pdf"
    big.write_bytes(pdfs.big_pdf(megabytes=30, pages=3))
    page.goto("/dashboard/products/new/")
    page.fill("#id_title", "Big guide")
    page.fill("#id_price", "19.00")
    page.set_input_files("#id_file", str(big))
    seen = []
    page.expose_function("noteProgress", lambda text: seen.append(text))
    page.evaluate(
        """() => new MutationObserver(() => window.noteProgress(
               document.querySelector('[data-progress-text]').textContent))
             .observe(document.querySelector('[data-progress-text]'), {childList: true})"""
    )
    with page.expect_navigation(timeout=60_000):
        page.click("[data-submit]")
    with schema_context(store.schema_name):
        product = Product.objects.get()
    assert page.url.endswith(f"/dashboard/products/{product.uid}/")
    assert "is saved as a draft" in page.content()
    assert product.page_count == 4
    assert any("Upload" in text for text in seen), seen  # the bar showed progress


def test_a_refused_pdf_shows_its_reason_without_leaving_the_form(page, committed_alice, tmp_path):
    _owner, store = committed_alice
    bad = tmp_path / "scripted.pdf"
    bad.write_bytes(pdfs.javascript_pdf())
    page.goto("/dashboard/products/new/")
    page.fill("#id_title", "Scripted")
    page.fill("#id_price", "5")
    page.set_input_files("#id_file", str(bad))
    page.click("[data-submit]")
    page.wait_for_selector("text=This PDF contains JavaScript")
    assert page.url.endswith("/dashboard/products/new/")
    assert page.input_value("#id_title") == "Scripted"
    with schema_context(store.schema_name):
        assert Product.objects.count() == 0


def test_a_file_over_the_limit_is_stopped_before_uploading(page, committed_alice, tmp_path):
    big = tmp_path / "too big.pdf"
    big.write_bytes(pdfs.good_pdf())
    page.goto("/dashboard/products/new/")
    page.evaluate("document.querySelector('#id_file').setAttribute('data-max-bytes', '100')")
    page.set_input_files("#id_file", str(big))
    page.click("[data-submit]")
    page.wait_for_selector("[data-upload-error]:not([hidden])")
    assert "the most this field takes is 100 bytes" in page.inner_text("[data-upload-error]")


def test_an_upload_over_the_limit_is_told_the_limit_in_place(
    page, committed_alice, tmp_path, settings
):
    """Each file is under the limit, so the page lets it go; the request (PDF and cover)
    is not, so the server refuses it from its Content-Length and the form says why."""
    import os

    from PIL import Image

    _owner, store = committed_alice
    settings.PDF_MAX_UPLOAD_BYTES = 2 * 1024 * 1024
    pdf = tmp_path / "guide.pdf"
    pdf.write_bytes(pdfs.big_pdf(megabytes=1, pages=1))
    cover = tmp_path / "cover.png"
    Image.frombytes("RGB", (600, 600), os.urandom(600 * 600 * 3)).save(cover)
    page.goto("/dashboard/products/new/")
    page.fill("#id_title", "Guide")
    page.fill("#id_price", "5")
    page.set_input_files("#id_file", str(pdf))
    page.set_input_files("#id_cover", str(cover))
    page.click("[data-submit]")
    page.wait_for_selector("[data-upload-error]:not([hidden])")
    assert re.match(
        r"This upload is larger than 2 MB \(2\.\d\d MB\), the most a product PDF may be\.",
        page.inner_text("[data-upload-error]"),
    )
    with schema_context(store.schema_name):
        assert Product.objects.count() == 0


def test_the_price_is_shown_back_while_typing_and_saved_at_the_first_upload(
    page, committed_alice, tmp_path
):
    _owner, store = committed_alice
    pdf = tmp_path / "guide.pdf"
    pdf.write_bytes(pdfs.good_pdf(pages=2))
    page.goto("/dashboard/products/new/")
    page.fill("#id_title", "Guide")
    page.select_option("#id_currency", "eur")
    page.fill("#id_price", "12,50")
    page.wait_for_selector("text=We read this as €12.50.")
    page.set_input_files("#id_file", str(pdf))
    with page.expect_navigation(timeout=60_000):
        page.click("[data-submit]")
    with schema_context(store.schema_name):
        product = Product.objects.get()
    assert (product.price, product.currency) == (1250, "eur")
    assert page.url.endswith(f"/dashboard/products/{product.uid}/")
