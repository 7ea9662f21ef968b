"""A product with two files, seen in headless Chromium: the seller's product page lists
both, the buyer's thank-you page and library give a link to each; axe finds nothing.
Screenshots go to test-artifacts/files/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from payments.services import library_link_create
from tests.browsers import committed_store, store_pages
from tests.e2e.axe import assert_accessible
from tests.factories import add_file, in_schema, product_with_file, purchase

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs chromium"),
]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "files"
LAPTOP = {"width": 1280, "height": 900}


@pytest.fixture
def browser_for(live_server, transactional_db, settings, monkeypatch):
    """(Alice's store, open_page(logged_in=False)) → a laptop-sized page on it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with (
        committed_store("Alice's Workbooks") as (owner, store),
        store_pages(live_server, owner, store, settings, monkeypatch, viewport=LAPTOP) as op,
    ):
        yield store, op


def test_two_files_in_the_dashboard_and_two_links_for_the_buyer(browser_for):
    store, open_page = browser_for
    product = product_with_file(store, title="Algebra Workbook", download_limit=3)
    add_file(store, product, name="Answers", download_limit=1)
    bought = purchase(store, product, email="bob@example.com")
    with in_schema(store):
        library_token = library_link_create(email="bob@example.com")

    seller = open_page(logged_in=True)
    seller.goto(f"/dashboard/products/{product.uid}/")
    seller.wait_for_load_state("load")
    items = seller.locator("#files .file-item h3")
    assert items.all_inner_texts() == ["Algebra Workbook", "Answers"]
    seller.screenshot(path=str(SHOTS / "dashboard-product-two-files.png"), full_page=True)
    assert_accessible(seller, "dashboard-product-two-files", report_dir=SHOTS)

    buyer = open_page()
    buyer.goto(f"/thanks/?session_id={bought.checkout_session_id}")
    buyer.wait_for_load_state("load")
    links = buyer.locator(".download-list a")
    assert links.all_inner_texts() == ["Download “Algebra Workbook”", "Download “Answers”"]
    buyer.screenshot(path=str(SHOTS / "thanks-two-links.png"), full_page=True)
    assert_accessible(buyer, "thanks-two-links", report_dir=SHOTS)

    buyer.goto(f"/library/{library_token}/")
    buyer.wait_for_load_state("load")
    assert buyer.locator(".download-list a").all_inner_texts() == ["Algebra Workbook", "Answers"]
    buyer.screenshot(path=str(SHOTS / "library-two-links.png"), full_page=True)
    assert_accessible(buyer, "library-two-links", report_dir=SHOTS)
