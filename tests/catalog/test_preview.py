"""Free previews: a PDF of the chosen pages only, marked "Preview", and their page images.

The source PDF below points at its page 5 in every way a real one can: a resource
dictionary shared by all pages that lists page 5's image and form, a link annotation and
an outline entry to page 5, a named destination, an AcroForm field on page 5, document
and page metadata. The preview of pages 1-3 must hold none of it (checked in its bytes,
every stream decompressed); the preview of page 5 holds it, so the check can fail.
"""

from __future__ import annotations

import contextlib
import io
import zlib

import pytest
from django_tenants.utils import schema_context
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    StreamObject,
    TextStringObject,
)

from catalog.models import Product
from catalog.pdf import pdf_validate
from catalog.preview import preview_pdf
from catalog.services import (
    product_create,
    product_publish,
    product_replace_file,
    product_set_preview,
)
from catalog.storage import private_storage
from tests.catalog.pdfs import good_pdf, upload
from tests.conftest import store_client

PAGES = 8
# Only on page 5, or only reachable from something pointing at page 5.
SECRETS = [
    b"Page 5 of 8",
    b"Chapter 4",
    b"SECRETFORMFIVE",
    b"SECRETIMAGEP5!",
    b"SECRETFIELDVALUE",
    b"SECRETOUTLINE",
    b"SECRETMETADATA",
    b"SECRETPIECEINFO",
    b"SECRETXMP",
]


def _stream(data: bytes, **entries) -> StreamObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    for key, value in entries.items():
        stream[NameObject(key)] = value
    return stream.flate_encode()


def leaky_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(good_pdf(pages=PAGES, title="Ferns"))))
    pages = writer.pages
    page5 = pages[4]
    image = writer._add_object(
        _stream(
            b"SECRETIMAGEP5!",
            **{
                "/Type": NameObject("/XObject"),
                "/Subtype": NameObject("/Image"),
                "/Width": NumberObject(14),
                "/Height": NumberObject(1),
                "/ColorSpace": NameObject("/DeviceGray"),
                "/BitsPerComponent": NumberObject(8),
            },
        )
    )
    fonts = pages[1]["/Resources"]["/Font"]
    form = writer._add_object(
        _stream(
            b"BT /F1 12 Tf 72 700 Td (SECRETFORMFIVE) Tj ET",
            **{
                "/Type": NameObject("/XObject"),
                "/Subtype": NameObject("/Form"),
                "/BBox": ArrayObject([NumberObject(0), NumberObject(0)] + [NumberObject(600)] * 2),
                "/Resources": DictionaryObject({NameObject("/Font"): fonts}),
            },
        )
    )
    # One resource dictionary for every page (as many generators write them), listing
    # page 5's image and form.
    shared = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Font"): fonts,
                NameObject("/XObject"): DictionaryObject(
                    {NameObject("/ImFive"): image, NameObject("/FmFive"): form}
                ),
            }
        )
    )
    for page in pages:
        page[NameObject("/Resources")] = shared
    extra = writer._add_object(_stream(b"q /FmFive Do Q q 140 0 0 10 72 72 cm /ImFive Do Q"))
    contents = page5["/Contents"]
    page5[NameObject("/Contents")] = ArrayObject([contents, extra])
    # A link on page 1 to page 5; an outline entry and a named destination to page 5.
    link = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/Rect"): ArrayObject([NumberObject(v) for v in (60, 60, 200, 80)]),
            NameObject("/Dest"): ArrayObject([page5.indirect_reference, NameObject("/Fit")]),
        }
    )
    pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(link)])
    writer.add_outline_item(title="SECRETOUTLINE", page_number=4)
    writer.add_named_destination(title="chapter-four", page_number=4)
    # A form field on page 5, and metadata that carries content.
    field = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Annot"),
                NameObject("/Subtype"): NameObject("/Widget"),
                NameObject("/FT"): NameObject("/Tx"),
                NameObject("/T"): TextStringObject("answer"),
                NameObject("/V"): TextStringObject("SECRETFIELDVALUE"),
                NameObject("/Rect"): ArrayObject([NumberObject(v) for v in (72, 300, 300, 320)]),
                NameObject("/P"): page5.indirect_reference,
            }
        )
    )
    page5[NameObject("/Annots")] = ArrayObject([field])
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject([field])}
    )
    writer.add_metadata({"/Subject": "SECRETMETADATA", "/Keywords": "ferns"})
    writer._root_object[NameObject("/Metadata")] = writer._add_object(
        _stream(b"<x:xmpmeta><dc:description>SECRETXMP</dc:description></x:xmpmeta>")
    )
    pages[0][NameObject("/PieceInfo")] = DictionaryObject(
        {
            NameObject("/App"): DictionaryObject(
                {NameObject("/Private"): TextStringObject("SECRETPIECEINFO")}
            )
        }
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def everything_in(data: bytes) -> bytes:
    """The file's bytes and every stream of it decompressed (by a raw scan, so objects no
    cross-reference lists count too)."""
    parts = [data]
    reader = PdfReader(io.BytesIO(data))
    for number in range(1, int(reader.trailer["/Size"])):
        with contextlib.suppress(Exception):  # a free number
            obj = reader.get_object(number)
            if isinstance(obj, StreamObject):
                parts.append(obj.get_data())
    start = 0
    while (found := data.find(b"stream", start)) >= 0:
        start = found + 6
        body = data[start:].lstrip(b"\r\n")
        with contextlib.suppress(zlib.error):
            parts.append(zlib.decompressobj().decompress(body, 10_000_000))
    return b"\n".join(parts)


@pytest.fixture(scope="module")
def leaky() -> bytes:
    return leaky_pdf()


def test_the_source_really_reaches_page_5_from_everywhere(leaky):
    pdf_validate(io.BytesIO(leaky))  # a PDF we accept
    haystack = everything_in(leaky)
    for secret in SECRETS:
        assert secret in haystack, secret


def test_the_preview_holds_the_chosen_pages_and_nothing_of_the_others(leaky):
    preview = preview_pdf(io.BytesIO(leaky), [1, 2, 3], title="Ferns")
    reader = PdfReader(io.BytesIO(preview))
    assert len(reader.pages) == 3
    texts = [page.extract_text() for page in reader.pages]
    assert "Ferns" in texts[0] and "8 pages" in texts[0]
    assert "Page 2 of 8" in texts[1] and "Chapter 1" in texts[1]
    assert "Page 3 of 8" in texts[2] and "Chapter 2" in texts[2]
    for text in texts:
        assert "Preview" in text
    haystack = everything_in(preview)
    for secret in SECRETS:
        assert secret not in haystack, secret
    for other in (4, 6, 7, 8):
        assert f"Page {other} of 8".encode() not in haystack
    # A new document: the page tree and nothing else; pages without annotations.
    assert set(reader.trailer["/Root"].keys()) == {"/Type", "/Pages"}
    assert all("/Annots" not in page for page in reader.pages)
    assert dict(reader.metadata) == {"/Title": "Preview: Ferns"}
    pdf_validate(io.BytesIO(preview))


def test_a_preview_of_page_5_does_hold_what_page_5_draws(leaky):
    """The control: what was missing above is there when page 5 is chosen."""
    preview = preview_pdf(io.BytesIO(leaky), [5])
    haystack = everything_in(preview)
    for secret in (b"Page 5 of 8", b"Chapter 4", b"SECRETFORMFIVE", b"SECRETIMAGEP5!"):
        assert secret in haystack
    # Still no links, fields, outlines or metadata, which are not drawn.
    for secret in (b"SECRETFIELDVALUE", b"SECRETOUTLINE", b"SECRETMETADATA", b"SECRETXMP"):
        assert secret not in haystack
    assert "SECRETFORMFIVE" in PdfReader(io.BytesIO(preview)).pages[0].extract_text()


# --- Through the dashboard, the task and the product page -----------------------------------


@pytest.fixture
def ferns(alice_charging, in_alice, leaky, django_capture_on_commit_callbacks) -> Product:
    with django_capture_on_commit_callbacks(execute=True):
        product = product_create(
            title="Ferns",
            description="All about ferns.",
            price_text="12",
            currency="usd",
            file=upload(leaky, "ferns.pdf"),
        )
    return product_publish(product=product, store=alice_charging)


@pytest.fixture
def alices_client(alice, alice_store):
    return store_client(alice_store, alice)


def _choose(client, product, pages: str, capture):
    with capture(execute=True):
        return client.post(f"/dashboard/products/{product.uid}/preview/", {"preview_pages": pages})


def test_the_seller_chooses_pages_and_buyers_see_them(
    ferns, alices_client, alice_store, django_capture_on_commit_callbacks
):
    response = _choose(alices_client, ferns, "2, 1, 5", django_capture_on_commit_callbacks)
    assert response.status_code == 302
    ferns.refresh_from_db()
    assert ferns.preview_pages == [1, 2, 5]
    assert ferns.preview_state == Product.PreviewState.READY
    assert ferns.preview.name.startswith("previews/")
    with private_storage().open(ferns.preview.name, "rb") as handle:
        reader = PdfReader(handle)
        assert [len(reader.pages)] == [3]
        assert "Page 5 of 8" in reader.pages[2].extract_text()

    page = store_client(alice_store).get(ferns.get_absolute_url())
    html = page.content.decode()
    assert "Look inside" in html
    images = ferns.preview_images
    assert [i["page"] for i in images] == [1, 2, 5]
    for image in images:
        assert image["url"] in html
        fetched = store_client(alice_store).get(image["url"])
        assert fetched.status_code == 200 and fetched["Content-Type"] == "image/webp"
        with Image.open(io.BytesIO(b"".join(fetched.streaming_content))) as picture:
            assert picture.format == "WEBP" and picture.width == 900
    assert f'href="{ferns.preview_url}"' in html
    pdf = store_client(alice_store).get(ferns.preview_url)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"].startswith("inline")
    assert "immutable" in pdf["Cache-Control"]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("9", "This PDF has 8 pages: page 9 is not one of them."),
        ("0", "page 0 is not one of them"),
        ("1, 2, 3, 4", "Choose at most 3 pages for the preview (you chose 4: 1, 2, 3, 4)."),
        ("2-6", "Choose at most 3 pages for the preview (2-6 is 5 pages)."),
        ("one", "“one” is not a page number"),
    ],
)
def test_pages_that_are_not_in_the_pdf_are_refused_and_nothing_changes(
    ferns, alices_client, typed, message, django_capture_on_commit_callbacks
):
    _choose(alices_client, ferns, "1", django_capture_on_commit_callbacks)
    response = _choose(alices_client, ferns, typed, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html.replace("&#x27;", "'")
    assert f'value="{typed}"' in html  # what the seller typed is kept
    ferns.refresh_from_db()
    assert ferns.preview_pages == [1] and ferns.preview_state == Product.PreviewState.READY


def test_ranges_and_repeats_are_read_as_meant(ferns):
    assert product_set_preview(product=ferns, pages_text="3 - 4,3").preview_pages == [3, 4]
    assert product_set_preview(product=ferns, pages_text=" ").preview_pages == []


def test_a_new_pdf_rebuilds_the_preview_and_drops_pages_it_lacks(
    ferns, alices_client, alice_store, django_capture_on_commit_callbacks
):
    _choose(alices_client, ferns, "1, 2, 5", django_capture_on_commit_callbacks)
    ferns.refresh_from_db()
    old, old_images = ferns.preview.name, ferns.preview_files
    anonymous = store_client(alice_store)
    assert old in anonymous.get(ferns.get_absolute_url()).content.decode()  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        product = product_replace_file(
            product=ferns, file=upload(good_pdf(pages=4, title="Ferns, 2nd ed."), "ferns2.pdf")
        )
    product.refresh_from_db()
    assert product.preview_pages == [1, 2]
    assert product.preview_state == Product.PreviewState.READY
    assert product.preview.name != old
    storage = private_storage()
    assert not any(storage.exists(name) for name in old_images)  # the old one is gone
    with storage.open(product.preview.name, "rb") as handle:
        assert "2nd ed." in PdfReader(handle).pages[0].extract_text()
    # The cached product page was forgotten: it shows the new preview.
    html = anonymous.get(product.get_absolute_url()).content.decode()
    assert product.preview.name.removeprefix("previews/").removesuffix(".pdf") in html
    assert old.removeprefix("previews/").removesuffix(".pdf") not in html
    assert anonymous.get(f"/{old}").status_code == 404


def test_a_drafts_preview_is_its_owners_only_and_mallory_cannot_fetch_alices(
    ferns,
    alices_client,
    alice_store,
    mallory,
    mallory_store,
    django_capture_on_commit_callbacks,
):
    _choose(alices_client, ferns, "1, 2", django_capture_on_commit_callbacks)
    ferns.refresh_from_db()
    urls = [ferns.preview_url] + [i["url"] for i in ferns.preview_images]
    mallorys = store_client(mallory_store, mallory)
    for url in urls:
        assert store_client(alice_store).get(url).status_code == 200
        # Mallory's domain looks in Mallory's schema (and storage prefix): nothing there.
        assert mallorys.get(url).status_code == 404
        assert store_client(mallory_store).get(url).status_code == 404
    assert mallorys.get(urls[1].replace("-1.webp", "-3.webp")).status_code == 404
    with schema_context(alice_store.schema_name):
        Product.objects.filter(pk=ferns.pk).update(status=Product.Status.DRAFT)
    for url in urls:
        assert store_client(alice_store).get(url).status_code == 404
        owner = alices_client.get(url)
        assert owner.status_code == 200 and "no-store" in owner["Cache-Control"]
        assert mallorys.get(url).status_code == 404
    # Nor can she choose pages on Alice's product from her own domain.
    assert (
        mallorys.post(
            f"/dashboard/products/{ferns.uid}/preview/", {"preview_pages": "1"}
        ).status_code
        == 404
    )


def test_a_preview_is_not_offered_for_a_product_without_a_pdf(alice_charging, in_alice):
    product = product_create(
        title="Empty", description="", price_text="5", currency="usd", file=None
    )
    with pytest.raises(Exception, match="Upload the PDF first"):
        product_set_preview(product=product, pages_text="1")
