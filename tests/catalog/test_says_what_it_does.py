"""What the seller reads about files and stamping is what buyers get."""

from __future__ import annotations

import io

from pypdf import PdfReader

from catalog.forms import ProductCreateForm
from catalog.services import product_replace_file
from payments.models import Purchase
from payments.services import download_url_for
from tests.catalog.pdfs import good_pdf, upload
from tests.conftest import store_client
from tests.factories import in_schema, product_with_file, purchase


def test_the_stamping_option_says_page_1_where_the_stamp_goes():
    # payments.stamping merges the "Licensed to" line onto the first page only
    # (tests/payments/test_library_and_stamping.py checks page 2 has none).
    label = ProductCreateForm().fields["stamping"].label
    assert "page 1" in label and "pages" not in label


def test_a_buyer_who_paid_before_a_replacement_keeps_the_version_he_paid_for(
    alice, alice_store, media_root
):
    product = product_with_file(alice_store)
    bought = purchase(alice_store, product, email="bob@example.com")
    with in_schema(alice_store):
        product_replace_file(product=product, file=upload(good_pdf(pages=7), "v2.pdf"))
        url = download_url_for(
            Purchase.objects.prefetch_related("grants").get(pk=bought.pk), store=alice_store
        )
    response = store_client(alice_store).get("/" + url.split("/", 3)[3])
    assert response.status_code == 200
    assert len(PdfReader(io.BytesIO(b"".join(response.streaming_content))).pages) == 3

    page = store_client(alice_store, alice).get(f"/dashboard/products/{product.uid}/file/")
    text = page.content.decode()
    assert "keep the version they paid for" in text
    assert "downloads the new version" not in text
