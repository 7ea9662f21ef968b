"""Everything a seller can get wrong on the "New product" form: each gets a message that
says exactly what, and leaves no file in storage and no product row behind."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from catalog.models import Product
from tests.catalog import pdfs
from tests.catalog.conftest import stored_files
from tests.conftest import store_client

NEW = "/dashboard/products/new/"


def post(client, **overrides):
    data = {
        "title": "A Field Guide to Ferns",
        "description": "",
        "price": "12.50",
        "currency": "usd",
        "file": pdfs.upload(pdfs.good_pdf()),
    }
    data.update(overrides)
    return client.post(NEW, data)


def assert_nothing_stored(store, media_root) -> None:
    assert stored_files(media_root) == []
    with schema_context(store.schema_name):
        assert Product.objects.count() == 0


def errors(response, field: str) -> list[str]:
    return response.context["form"].errors.get(field, [])


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"MZ\x90\x00 definitely an exe", "invoice.pdf", "This file is not a PDF"),
        (b"", "empty.pdf", "This file is empty (0 bytes)"),
        (pdfs.truncated_pdf(), "cut.pdf", "This PDF is incomplete"),
        (pdfs.corrupt_pdf(), "corrupt.pdf", "This PDF is damaged"),
        (pdfs.encrypted_pdf(), "locked.pdf", "encrypted or password-protected"),
        (pdfs.javascript_pdf(), "js.pdf", "This PDF contains JavaScript"),
        (pdfs.embedded_file_pdf(), "attached.pdf", "This PDF carries embedded files"),
    ],
    ids=[
        "renamed-exe",
        "zero-bytes",
        "truncated",
        "corrupt",
        "encrypted",
        "javascript",
        "embedded",
    ],
)
def test_a_bad_pdf_is_refused_with_its_reason(alice, alice_store, media_root, data, name, message):
    response = post(store_client(alice_store, alice), file=pdfs.upload(data, name))
    assert response.status_code == 400
    assert any(message in e for e in errors(response, "file")), errors(response, "file")
    assert message in response.content.decode().replace("&#x27;", "'")
    assert_nothing_stored(alice_store, media_root)


def test_a_pdf_over_the_cap_is_refused(alice, alice_store, media_root, settings):
    settings.PDF_MAX_UPLOAD_BYTES = 1024
    response = post(store_client(alice_store, alice), file=pdfs.upload(pdfs.good_pdf()))
    # Refused from the request's Content-Length, before the body is read (catalog.uploads).
    assert response.status_code == 413
    assert "This upload is larger than 1 KB" in response.content.decode()
    assert_nothing_stored(alice_store, media_root)


@pytest.mark.parametrize(
    ("price", "currency", "field", "message"),
    [
        ("-5", "usd", "price", "The price must be more than zero."),
        ("0", "usd", "price", "The price must be more than zero."),
        ("0.20", "usd", "price", "The lowest price Stripe can charge in USD is $0.50."),
        ("twelve", "usd", "price", "“twelve” is not a number."),
        ("", "usd", "price", "Enter a price."),
        ("12.5055", "usd", "price", "USD prices take at most 2 decimals."),
        ("1000000", "usd", "price", "The highest price is $999,999.99."),
        ("12.5", "jpy", "price", "JPY prices take no decimals."),
        (
            "12.50",
            "xyz",
            "currency",
            "Currency “xyz” is not supported; choose one of USD, EUR, GBP, CAD, AUD, JPY.",
        ),
    ],
    ids=[
        "negative",
        "zero",
        "below-minimum",
        "non-numeric",
        "missing",
        "sub-cent",
        "over-max",
        "jpy-decimals",
        "currency",
    ],
)
def test_a_bad_price_or_currency_is_refused(
    alice, alice_store, media_root, price, currency, field, message
):
    response = post(store_client(alice_store, alice), price=price, currency=currency)
    assert response.status_code == 400
    assert errors(response, field) == [message]
    assert_nothing_stored(alice_store, media_root)


def test_a_missing_title_is_refused(alice, alice_store, media_root):
    response = post(store_client(alice_store, alice), title="   ")
    assert errors(response, "title") == ["Give the product a title."]
    assert_nothing_stored(alice_store, media_root)


def test_every_field_error_shows_at_once_so_a_big_upload_is_not_wasted(
    alice, alice_store, media_root
):
    response = post(
        store_client(alice_store, alice),
        title="",
        price="abc",
        file=pdfs.upload(pdfs.javascript_pdf()),
        cover=pdfs.upload(b"not an image", "cover.png", "image/png"),
    )
    form_errors = response.context["form"].errors
    assert set(form_errors) == {"title", "price", "file", "cover"}
    assert_nothing_stored(alice_store, media_root)


def test_a_file_name_with_paths_and_unicode_is_only_a_display_name(alice, alice_store, media_root):
    name = "..\\..\\évaluation/../../Ünïcødé guide: 2024?.pdf"
    response = post(store_client(alice_store, alice), file=pdfs.upload(pdfs.good_pdf(), name))
    assert response.status_code == 302
    with schema_context(alice_store.schema_name):
        product = Product.objects.get()
    # Django's upload handler already drops the directories; we keep a harmless name.
    assert product.file_name == "Ünïcødé guide_ 2024.pdf"
    [stored] = stored_files(media_root)
    assert stored.startswith(f"tenants/{alice_store.schema_name}/products/")
    assert "guide" not in stored and ".." not in stored


def test_duplicate_titles_get_unique_slugs(alice, alice_store):
    client = store_client(alice_store, alice)
    for _ in range(3):
        assert post(client, file=pdfs.upload(pdfs.good_pdf())).status_code == 302
    with schema_context(alice_store.schema_name):
        slugs = sorted(Product.objects.values_list("slug", flat=True))
    assert slugs == [
        "a-field-guide-to-ferns",
        "a-field-guide-to-ferns-2",
        "a-field-guide-to-ferns-3",
    ]


def test_script_in_title_and_description_is_stored_as_text_and_shown_escaped(alice, alice_store):
    client = store_client(alice_store, alice)
    response = post(
        client,
        title="<script>alert(1)</script>",
        description="<script>alert(2)</script> **bold**",
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    with schema_context(alice_store.schema_name):
        product = Product.objects.get()
    assert product.title == "<script>alert(1)</script>"
    assert "<script>" not in product.description_html
    assert "<strong>bold</strong>" in product.description_html


def test_a_bad_download_limit_is_refused(alice, alice_store, media_root):
    response = post(store_client(alice_store, alice), download_limit="0")
    assert "download_limit" in response.context["form"].errors
    assert_nothing_stored(alice_store, media_root)
