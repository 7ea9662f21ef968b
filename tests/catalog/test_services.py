"""Product services, in Alice's store: what gets stored, where, and what never is."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from catalog import services
from catalog.models import Product, ProductFile
from catalog.services import (
    product_archive,
    product_create,
    product_delete,
    product_duplicate,
    product_publish,
    product_replace_file,
    product_unpublish,
    product_update,
)
from catalog.storage import private_storage
from tests.catalog.conftest import stored_files
from tests.catalog.pdfs import good_pdf, image_bytes, javascript_pdf, upload


def create(**overrides) -> Product:
    fields = {
        "title": "A Field Guide to Ferns",
        "description": "Everything about **ferns**.",
        "price_text": "12.50",
        "currency": "usd",
        "file": upload(good_pdf()),
        "stamping": False,
        "download_limit": None,
    }
    fields.update(overrides)
    return product_create(**fields)


def test_creating_a_product_stores_the_pdf_under_the_stores_prefix(in_alice, media_root):
    product = create()
    assert product.status == Product.Status.DRAFT
    assert product.price == 1250 and product.currency == "usd"
    assert product.slug == "a-field-guide-to-ferns"
    assert product.page_count == 3
    assert product.file.name.startswith("products/") and product.file.name.endswith(".pdf")
    assert product.file_name == "ferns.pdf"
    assert stored_files(media_root) == [f"tenants/{in_alice.schema_name}/{product.file.name}"]
    assert product.file_size == len(good_pdf())
    version = product.versions.get()
    assert version.file == product.file.name and version.sha256 == product.sha256


def test_a_product_may_be_drafted_without_a_pdf(in_alice, media_root):
    product = create(file=None)
    assert not product.has_file
    assert product.cover_state == Product.CoverState.NONE
    assert stored_files(media_root) == []


def test_duplicate_titles_get_numbered_slugs_that_never_change(in_alice):
    first = create()
    second = create()
    third = create(title="A field guide to ferns!")
    assert [first.slug, second.slug, third.slug] == [
        "a-field-guide-to-ferns",
        "a-field-guide-to-ferns-2",
        "a-field-guide-to-ferns-3",
    ]
    renamed = product_update(
        product=first,
        title="Mosses, actually",
        description="",
        price_text="9",
        currency="usd",
        stamping=False,
        download_limit=None,
    )
    assert renamed.title == "Mosses, actually"
    assert renamed.slug == "a-field-guide-to-ferns"


def test_a_title_without_latin_letters_still_gets_a_slug(in_alice):
    assert create(title="日本語のガイド").slug == "product"
    assert create(title="日本語のガイド").slug == "product-2"


def test_every_problem_is_reported_at_once_and_nothing_is_stored(in_alice, media_root):
    with pytest.raises(ValidationError) as caught:
        create(title="  ", price_text="-3", file=upload(javascript_pdf()), download_limit=0)
    errors = caught.value.message_dict
    assert errors["title"] == ["Give the product a title."]
    assert errors["price"] == ["The price must be more than zero."]
    assert "JavaScript" in errors["file"][0]
    assert "between 1 and" in errors["download_limit"][0]
    assert Product.objects.count() == 0
    assert stored_files(media_root) == []


def test_a_failure_after_saving_deletes_what_was_saved(in_alice, media_root, monkeypatch):
    def broken(product, *slot):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "_record_version", broken)
    with pytest.raises(RuntimeError):
        create(cover=upload(image_bytes(), "cover.png", "image/png"))
    assert Product.objects.count() == 0
    assert stored_files(media_root) == []


def test_replacing_the_file_keeps_every_earlier_version(in_alice, media_root):
    product = create()
    first_file = product.file.name
    newer = product_replace_file(product=product, file=upload(good_pdf(pages=7), "v2.pdf"))
    assert newer.page_count == 7 and newer.file_name == "v2.pdf"
    assert newer.file.name != first_file
    assert list(ProductFile.objects.order_by("created_at").values_list("file", flat=True)) == [
        first_file,
        newer.file.name,
    ]
    assert private_storage().exists(first_file)
    assert len(stored_files(media_root)) == 2


def test_replacing_with_the_same_pdf_is_refused(in_alice):
    product = create()
    with pytest.raises(ValidationError) as caught:
        product_replace_file(product=product, file=upload(good_pdf(), "again.pdf"))
    assert caught.value.message_dict["file"] == ["This is the same PDF as the current version."]


def test_replacing_with_a_bad_pdf_changes_nothing(in_alice, media_root):
    product = create()
    before = stored_files(media_root)
    with pytest.raises(ValidationError) as caught:
        product_replace_file(product=product, file=upload(b"not a pdf at all", "v2.pdf"))
    assert "not a PDF" in caught.value.message_dict["file"][0]
    assert stored_files(media_root) == before
    assert product.versions.count() == 1


def test_publishing_needs_a_pdf_a_price_and_a_store_that_can_charge(in_alice):
    product = create(file=None)
    with pytest.raises(ValidationError) as caught:
        product_publish(product=product, store=in_alice)
    problems = " ".join(caught.value.messages)
    assert "Upload the PDF" in problems
    assert "Connect a Stripe account" in problems
    assert Product.objects.get().status == Product.Status.DRAFT


def test_a_product_with_everything_is_published(alice_charging, in_alice):
    product = create()
    published = product_publish(product=product, store=alice_charging)
    assert published.status == Product.Status.PUBLISHED
    assert published.published_at is not None


def test_a_price_below_the_stripe_minimum_cannot_be_published(alice_charging, in_alice):
    product = create()
    Product.objects.filter(pk=product.pk).update(price=10)  # e.g. a minimum raised later
    with pytest.raises(ValidationError) as caught:
        product_publish(product=product, store=alice_charging)
    assert (
        "Fix the price: The lowest price Stripe can charge in USD is $0.50."
        in caught.value.messages
    )


def test_unpublish_archive_and_restore(alice_charging, in_alice):
    product = product_publish(product=create(), store=alice_charging)
    assert product_unpublish(product=product).status == Product.Status.DRAFT
    assert product_archive(product=product).status == Product.Status.ARCHIVED
    assert Product.objects.visible_in_dashboard().count() == 0
    assert product_unpublish(product=product).status == Product.Status.DRAFT


def test_a_product_with_sales_cannot_be_deleted(in_alice, media_root):
    product = create()
    with pytest.raises(ValidationError) as caught:
        product_delete(product=product, has_sales=True)
    assert "Archive it instead" in caught.value.messages[0]
    assert Product.objects.count() == 1
    assert len(stored_files(media_root)) == 1


def test_deleting_a_product_without_sales_deletes_its_files(
    in_alice, media_root, django_capture_on_commit_callbacks
):
    product = create()
    product_replace_file(product=product, file=upload(good_pdf(pages=4), "v2.pdf"))
    with django_capture_on_commit_callbacks(execute=True):
        product_delete(product=product, has_sales=False)
    assert Product.objects.count() == 0 and ProductFile.objects.count() == 0
    assert stored_files(media_root) == []


def test_duplicating_copies_the_files_so_either_can_be_deleted(
    in_alice, media_root, django_capture_on_commit_callbacks
):
    original = create()
    copy = product_duplicate(product=original)
    assert copy.title == "A Field Guide to Ferns (copy)"
    assert copy.slug == "a-field-guide-to-ferns-copy"
    assert copy.status == Product.Status.DRAFT
    assert copy.file.name != original.file.name
    assert copy.sha256 == original.sha256
    with django_capture_on_commit_callbacks(execute=True):
        product_delete(product=original, has_sales=False)
    assert private_storage().open(copy.file.name).read() == good_pdf()


def test_the_cover_is_rendered_from_page_one_after_commit(
    in_alice, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        product = create()
    product.refresh_from_db()
    assert product.cover_state == Product.CoverState.READY
    assert product.cover.name.startswith("covers/") and product.cover.name.endswith(".png")
    from PIL import Image

    with private_storage().open(product.cover.name) as fh, Image.open(fh) as image:
        assert image.format == "PNG"
        assert image.width == 600
        # The sample's title page is coloured, not white.
        assert image.getpixel((10, 10)) != (255, 255, 255)


def test_a_new_pdf_redraws_the_cover_and_drops_the_old_drawing(
    in_alice, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        product = create()
    first_cover = Product.objects.get().cover.name
    with django_capture_on_commit_callbacks(execute=True):
        product_replace_file(product=product, file=upload(good_pdf(title="Mosses"), "v2.pdf"))
    product.refresh_from_db()
    assert product.cover_state == Product.CoverState.READY
    assert product.cover.name != first_cover
    assert not private_storage().exists(first_cover)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_an_uploaded_cover_is_kept_as_a_png(in_alice, media_root, fmt):
    product = create(cover=upload(image_bytes(fmt), f"cover.{fmt.lower()}", f"image/{fmt.lower()}"))
    assert product.cover_is_custom
    assert product.cover_state == Product.CoverState.READY
    with private_storage().open(product.cover.name) as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_an_uploaded_cover_is_not_replaced_by_a_rendered_one(
    in_alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        product = create(cover=upload(image_bytes(), "cover.png", "image/png"))
        custom = product.cover.name
        product_replace_file(product=product, file=upload(good_pdf(pages=2), "v2.pdf"))
    assert Product.objects.get().cover.name == custom


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a" + b"\x00" * 100, "not an image we can read"),
        (image_bytes("BMP"), "Covers must be PNG, JPEG or WebP images, not BMP."),
        (image_bytes("PNG")[:60], "damaged or incomplete"),
        (b"", "empty"),
    ],
)
def test_a_bad_cover_is_refused_and_nothing_is_stored(in_alice, media_root, data, message):
    with pytest.raises(ValidationError) as caught:
        create(cover=upload(data, "cover.png", "image/png"))
    assert message in caught.value.message_dict["cover"][0]
    assert stored_files(media_root) == []
    assert Product.objects.count() == 0


def test_a_pdf_that_cannot_be_drawn_marks_the_cover_failed(
    in_alice, media_root, django_capture_on_commit_callbacks, monkeypatch
):
    def cannot_draw(name):
        raise ValueError("pdfium refused")

    monkeypatch.setattr(services, "_render_first_page", cannot_draw)
    with django_capture_on_commit_callbacks(execute=True):
        create()
    product = Product.objects.get()
    assert product.cover_state == Product.CoverState.FAILED
    assert product.cover_url == ""


def test_rendering_a_cover_in_one_store_never_touches_another(
    alice_store, mallory_store, media_root, django_capture_on_commit_callbacks
):
    with schema_context(mallory_store.schema_name):
        mallory_product = create(title="Mallory's")
    with schema_context(alice_store.schema_name), django_capture_on_commit_callbacks(execute=True):
        create()
    files = stored_files(media_root)
    alice_files = [f for f in files if f.startswith(f"tenants/{alice_store.schema_name}/")]
    mallory_files = [f for f in files if f.startswith(f"tenants/{mallory_store.schema_name}/")]
    assert len(alice_files) == 5  # her PDF, her cover and its 3 sized WebP copies
    assert mallory_files == [f"tenants/{mallory_store.schema_name}/{mallory_product.file.name}"]


def test_a_cover_is_not_drawn_from_a_page_that_inflates_to_100_mb(
    in_alice, media_root, django_capture_on_commit_callbacks
):
    """Under the file's bound (128 MB for a small file; 1 GB is refused at upload), over
    page 1's own drawing budget (64 MB): the PDF is kept, the cover is not drawn."""
    from tests.catalog.pdfs import stream_bomb_pdf

    with django_capture_on_commit_callbacks(execute=True):
        create(file=upload(stream_bomb_pdf(inflated_megabytes=100), "bomb.pdf"))
    product = Product.objects.get()
    assert product.cover_state == Product.CoverState.FAILED
    assert len(stored_files(media_root)) == 1  # the PDF, no cover


def test_a_product_bought_once_survives_a_caller_that_says_no_sales(
    in_alice, media_root, django_capture_on_commit_callbacks
):
    from decimal import Decimal

    from payments.models import Purchase

    product = create()
    Purchase.objects.create(
        product=product,
        buyer_email="bob@example.com",
        amount=1250,
        currency="usd",
        platform_fee=93,
        fee_percent=Decimal("5.00"),
        fee_fixed=30,
        checkout_session_id="cs_test_bob",
    )
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        product_delete(product=product, has_sales=False)
    assert Product.objects.filter(pk=product.pk).exists()
    assert private_storage().exists(product.file.name)
