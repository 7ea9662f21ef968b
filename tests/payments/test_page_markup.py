"""Tables buyers and sellers read: every column header has a name, the action one too."""

from __future__ import annotations

from payments.services import library_link_create
from tests.conftest import store_client
from tests.factories import in_schema, product_with_file, purchase
from tests.markup import assert_headers_have_names, find


def test_the_sales_list_names_its_action_column(alice, alice_store):
    purchase(alice_store, product_with_file(alice_store), email="bob@example.com")
    html = store_client(alice_store, alice).get("/dashboard/sales/").content
    assert b"bob@example.com" in html
    assert_headers_have_names(html)
    assert find(html, "th")[-1].text.strip() == "Actions"


def test_the_buyer_library_names_its_download_column(alice_store):
    purchase(alice_store, product_with_file(alice_store), email="bob@example.com")
    with in_schema(alice_store):
        token = library_link_create(email="bob@example.com")
    html = store_client(alice_store).get(f"/library/{token}/").content
    assert b"Field Guide" in html
    assert_headers_have_names(html)
    assert find(html, "th")[-1].text.strip() == "Download"
