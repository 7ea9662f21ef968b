"""Alice's uploads through the real dashboard forms (create and replace): what is refused
leaves nothing behind, and a too-large upload is refused before its body is kept.

The size limit is one setting (PDF_MAX_UPLOAD_BYTES, from PDF_MAX_UPLOAD_MB) used by the
middleware (Content-Length), the upload handler (mid-body) and nginx (tests/deploy).
"""

from __future__ import annotations

import io
import zipfile

import pytest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django_tenants.utils import schema_context

from catalog.models import Product, ProductFile
from tests.catalog import pdfs
from tests.catalog.conftest import stored_files
from tests.catalog.factories import ProductFactory
from tests.conftest import store_client

NEW = "/dashboard/products/new/"
MIB = 1024 * 1024


class Unreadable:
    """A request body that must not be read."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


class Counting(io.BytesIO):
    """A request body that counts what was read of it."""

    def read(self, size=-1):
        data = super().read(size)
        self.consumed = getattr(self, "consumed", 0) + len(data)
        return data

    def readline(self, size=-1):
        data = super().readline(size)
        self.consumed = getattr(self, "consumed", 0) + len(data)
        return data


def fields(**overrides) -> dict:
    data = {"title": "Ferns", "description": "", "price": "12.50", "currency": "usd"}
    data.update(overrides)
    return data


def zip_appended() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.exe", b"MZ\x90\x00" * 64)
    return pdfs.good_pdf(pages=1) + archive.getvalue()


HOSTILE = [
    pytest.param(zip_appended(), "ferns.pdf", "This PDF has a ZIP archive appended", id="zip"),
    pytest.param(
        pdfs.stream_bomb_pdf(inflated_megabytes=400),
        "ferns.pdf",
        "This PDF expands far beyond",
        id="bomb",
    ),
    pytest.param(
        b"<html><script>x</script></html>" + pdfs.good_pdf(pages=1),
        "ferns.pdf",
        "it starts with a web page (HTML)",
        id="html-first",
    ),
    pytest.param(pdfs.good_pdf(pages=1), "invoice.pdf.exe", "ends in “.exe”", id="exe-name"),
    pytest.param(pdfs.good_pdf(pages=1), "report.txt", "ends in “.txt”", id="txt-name"),
    pytest.param(pdfs.image_bytes("PNG"), "scan.pdf", "it looks like a PNG image", id="png"),
]


@pytest.mark.parametrize(("data", "name", "says"), HOSTILE)
def test_a_refused_new_product_leaves_no_file_and_no_row(
    alice, alice_store, media_root, data, name, says
):
    response = store_client(alice_store, alice).post(NEW, fields(file=pdfs.upload(data, name)))
    assert response.status_code == 400
    errors = response.context["form"].errors["file"]
    assert any(says in e for e in errors), errors
    assert stored_files(media_root) == []
    with schema_context(alice_store.schema_name):
        assert Product.objects.count() == 0


@pytest.mark.parametrize(("data", "name", "says"), HOSTILE)
def test_a_refused_replacement_keeps_the_product_as_it_was(
    alice, alice_store, media_root, data, name, says
):
    client = store_client(alice_store, alice)
    assert client.post(NEW, fields(file=pdfs.upload(pdfs.good_pdf(), "v1.pdf"))).status_code == 302
    with schema_context(alice_store.schema_name):
        product = Product.objects.get()
    before = stored_files(media_root)

    response = client.post(
        f"/dashboard/products/{product.uid}/file/", {"file": pdfs.upload(data, name)}
    )
    assert response.status_code == 400
    errors = response.context["file_form"].errors["file"]
    assert any(says in e for e in errors), errors
    assert stored_files(media_root) == before
    with schema_context(alice_store.schema_name):
        after = Product.objects.get()
        assert (after.file.name, after.sha256, after.file_name) == (
            product.file.name,
            product.sha256,
            "v1.pdf",
        )
        assert ProductFile.objects.count() == 1


def test_a_request_over_the_limit_is_refused_before_its_body_is_read(
    alice, alice_store, media_root
):
    client = store_client(alice_store, alice)
    for xhr, content_type in ((False, "text/html"), (True, "text/plain")):
        headers = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"} if xhr else {}
        response = client.generic(
            "POST",
            NEW,
            b"",
            content_type=MULTIPART_CONTENT,
            CONTENT_LENGTH=str(201 * MIB),
            **{"wsgi.input": Unreadable()},
            **headers,
        )
        assert response.status_code == 413
        assert response["Content-Type"].startswith(content_type)
        assert (
            "This upload is larger than 200 MB (201 MB), the most a product PDF may be."
            in response.content.decode()
        )
    assert stored_files(media_root) == []


def test_a_request_at_the_limit_goes_through(alice, alice_store, settings):
    body = encode_multipart(BOUNDARY, fields(file=pdfs.upload(pdfs.good_pdf(pages=1))))
    settings.PDF_MAX_UPLOAD_BYTES = len(body)
    response = store_client(alice_store, alice).generic(
        "POST", NEW, body, content_type=MULTIPART_CONTENT
    )
    assert response.status_code == 302


@pytest.mark.parametrize("form", ["create", "replace"])
def test_the_upload_handler_stops_a_file_over_the_limit_mid_body(
    alice, alice_store, media_root, settings, tmp_path, form
):
    """Without the Content-Length check (a proxy that strips it, a chunked body re-framed),
    the handler stops reading at the limit: the rest of the body is never read, the
    temporary file is gone, and the form names the limit."""
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if not m.endswith("UploadLimitMiddleware")
    ]
    temp = tmp_path / "uploads"
    temp.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(temp)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024  # on disk past 16 KB, as big files are
    with schema_context(alice_store.schema_name):
        product = ProductFactory(title="Ferns")
    url = NEW if form == "create" else f"/dashboard/products/{product.uid}/file/"
    data = fields() if form == "create" else {}
    big = pdfs.big_pdf(megabytes=2)
    body = encode_multipart(BOUNDARY, {**data, "file": pdfs.upload(big)})
    settings.PDF_MAX_UPLOAD_BYTES = 256 * 1024
    payload = Counting(body)

    response = store_client(alice_store, alice).generic(
        "POST", url, body, content_type=MULTIPART_CONTENT, **{"wsgi.input": payload}
    )

    assert response.status_code == 400
    context_form = response.context["form" if form == "create" else "file_form"]
    assert context_form.errors["file"] == [
        "This file is larger than 256 KB, the most a product PDF may be."
    ]
    assert payload.consumed < 512 * 1024 < len(body)  # stopped near the limit
    assert list(temp.iterdir()) == []
    assert stored_files(media_root) == []
    with schema_context(alice_store.schema_name):
        assert Product.objects.count() == 1
        assert ProductFile.objects.count() == 0


def test_the_form_states_the_limit_in_mb_and_the_browser_knows_it_in_bytes(alice, alice_store):
    html = store_client(alice_store, alice).get(NEW).content.decode()
    assert "A PDF up to 200 MB (a name ending in .pdf)" in html
    assert 'data-max-bytes="209715200"' in html
