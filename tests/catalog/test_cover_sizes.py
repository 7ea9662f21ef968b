"""Covers in sizes: the cover task makes WebP copies beside the PNG, under the store's own
prefix; pages offer them through srcset; only the store that owns a cover serves them."""

from __future__ import annotations

import io

from django_tenants.utils import schema_context
from PIL import Image

from catalog.models import Product
from catalog.services import (
    product_cover_sizes_make,
    product_create,
    product_delete,
    product_duplicate,
    product_publish,
    product_update,
)
from catalog.storage import private_storage
from tests.catalog.conftest import stored_files
from tests.catalog.pdfs import good_pdf, image_bytes, upload
from tests.conftest import store_client
from tests.markup import find


def create(**overrides) -> Product:
    fields = {
        "title": "A Field Guide to Ferns",
        "description": "Everything about **ferns**.",
        "price_text": "12.50",
        "currency": "usd",
        "file": upload(good_pdf()),
    }
    fields.update(overrides)
    return product_create(**fields)


def webp_size(name: str) -> tuple[int, int]:
    with private_storage().open(name, "rb") as fh:
        data = fh.read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP", name
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def test_the_cover_task_makes_webp_copies_under_the_stores_prefix(
    in_alice, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        product = create()
    product.refresh_from_db()
    # Rendered at 600 pixels wide: copies at 280 and 560, and one at its own width.
    assert product.cover_widths == [280, 560, 600]
    key = product.cover_key
    prefix = f"tenants/{in_alice.schema_name}/covers/{key}"
    assert [f for f in stored_files(media_root) if "/covers/" in f] == [
        f"{prefix}-280.webp",
        f"{prefix}-560.webp",
        f"{prefix}-600.webp",
        f"{prefix}.png",
    ]
    assert webp_size(f"covers/{key}-280.webp")[0] == 280
    assert webp_size(f"covers/{key}-600.webp")[0] == 600
    # Smaller than the PNG they stand in for.
    png = (media_root / f"{prefix}.png").stat().st_size
    assert (media_root / f"{prefix}-280.webp").stat().st_size < png / 4


def test_an_uploaded_cover_gets_its_copies_and_is_never_scaled_up(
    in_alice, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        product = create(cover=upload(image_bytes(size=(300, 400)), "cover.png", "image/png"))
    product.refresh_from_db()
    assert product.cover_is_custom
    assert product.cover_widths == [280, 300]
    assert webp_size(f"covers/{product.cover_key}-300.webp") == (300, 400)


def test_making_the_copies_twice_changes_nothing(
    in_alice, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        product = create()
    before = stored_files(media_root)
    again = product_cover_sizes_make(product_id=product.pk)
    assert again.cover_widths == [280, 560, 600]
    assert stored_files(media_root) == before


def test_a_new_cover_drops_the_old_copies_and_gets_its_own(
    in_alice, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        product = create()
    old_key = Product.objects.get().cover_key
    with django_capture_on_commit_callbacks(execute=True):
        product_update(
            product=product,
            title=product.title,
            description=product.description,
            price_text="12.50",
            currency="usd",
            stamping=False,
            download_limit=None,
            cover=upload(image_bytes(size=(900, 1200)), "cover.png", "image/png"),
        )
    product.refresh_from_db()
    assert product.cover_widths == [280, 560, 840, 900]
    covers = [f for f in stored_files(media_root) if "/covers/" in f]
    assert not [f for f in covers if old_key in f]
    assert len(covers) == 5 and all(product.cover_key in f for f in covers)


def test_deleting_or_duplicating_a_product_handles_every_copy(
    in_alice, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        original = create()
    with django_capture_on_commit_callbacks(execute=True):
        copy = product_duplicate(product=Product.objects.get(pk=original.pk))
    original.refresh_from_db()
    copy.refresh_from_db()
    assert original.cover_key and original.cover_widths
    assert copy.cover_key != original.cover_key and copy.cover_widths == [280, 560, 600]
    with django_capture_on_commit_callbacks(execute=True):
        product_delete(product=Product.objects.get(pk=original.pk), has_sales=False)
    left = stored_files(media_root)
    assert not [f for f in left if original.cover_key in f]
    assert len([f for f in left if copy.cover_key in f]) == 4


def test_pages_offer_the_copies_and_the_store_serves_them_as_webp(
    alice_charging, django_capture_on_commit_callbacks
):
    with schema_context(alice_charging.schema_name):
        with django_capture_on_commit_callbacks(execute=True):
            product = create()
        product = product_publish(product=Product.objects.get(pk=product.pk), store=alice_charging)
    client = store_client(alice_charging)
    for path in ("/", product.get_absolute_url()):
        (img,) = find(client.get(path).content, "img")
        assert img.attrs["src"] == product.cover_url
        entries = [entry.split() for entry in img.attrs["srcset"].split(", ")]
        assert [w for _, w in entries] == ["280w", "560w", "600w"]
        assert img.attrs["sizes"]
        for url, _ in entries:
            response = client.get(url)
            assert response.status_code == 200, url
            assert response["Content-Type"] == "image/webp"
            assert "immutable" in response["Cache-Control"]
            assert response.getvalue()[8:12] == b"WEBP"
    # A width that was not made, or a key that is not a cover: nothing.
    assert client.get(f"/covers/{product.cover_key}-100.webp").status_code == 404
    assert client.get(f"/covers/{product.uid}-280.webp").status_code == 404
    for width in (0, 32_768, 10**30):  # out of the column's range: 404, not a database error
        assert client.get(f"/covers/{product.cover_key}-{width}.webp").status_code == 404


def test_mallorys_store_never_serves_alices_copies(
    alice_charging, mallory_store, django_capture_on_commit_callbacks
):
    with schema_context(alice_charging.schema_name):
        with django_capture_on_commit_callbacks(execute=True):
            product = create()
        product.refresh_from_db()
    url = f"/covers/{product.cover_key}-280.webp"
    # A draft's copies are its owner's only, like its cover.
    assert store_client(alice_charging).get(url).status_code == 404
    with schema_context(alice_charging.schema_name):
        Product.objects.filter(pk=product.pk).update(status=Product.Status.PUBLISHED)
    assert store_client(alice_charging).get(url).status_code == 200
    assert store_client(mallory_store).get(url).status_code == 404


def test_covers_made_before_the_copies_get_them_from_the_cover_sizes_command(
    alice_store, mallory_store, media_root
):
    from django.core.files.base import ContentFile
    from django.core.management import call_command

    products = {}
    for store in (alice_store, mallory_store):
        with schema_context(store.schema_name):
            product = create(title=f"Guide of {store.subdomain}", file=None)
            name = private_storage().save("covers/old.png", ContentFile(image_bytes()))
            Product.objects.filter(pk=product.pk).update(
                cover=name, cover_state=Product.CoverState.READY
            )
            products[store.schema_name] = product.pk
    call_command("cover_sizes", verbosity=0)
    for schema, pk in products.items():
        with schema_context(schema):
            product = Product.objects.get(pk=pk)
            assert product.cover.name == "covers/old.png"  # the cover itself stays
            assert product.cover_widths == [280, 300]
    assert len([f for f in stored_files(media_root) if f.endswith(".webp")]) == 4
