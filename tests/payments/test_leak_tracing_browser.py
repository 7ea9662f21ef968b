"""The "Trace a leaked copy" page in headless Chromium: a seller uploads a copy, the page
names the buyer (axe-checked). Screenshots go to test-artifacts/layout/."""

from __future__ import annotations

import pytest

from catalog.storage import private_storage
from payments.models import StampedCopy
from payments.platform.models import FeeLedgerEntry
from payments.stamping import stamped_copy_make
from tests.e2e.axe import assert_accessible
from tests.factories import in_schema, pdf_bytes, product_with_file, purchase
from tests.sellers.test_layout_browser import (  # noqa: F401 - fixtures
    LAPTOP,
    SHOTS,
    browser_for,
    committed_alice,
    pytestmark,
)


@pytest.fixture
def sales_forgotten(committed_alice):  # noqa: F811
    """The sale's fee row (public schema) goes before the store does."""
    yield
    FeeLedgerEntry.objects.filter(store=committed_alice[1]).delete()


def test_a_seller_traces_a_copy_found_online(browser_for, sales_forgotten, tmp_path):  # noqa: F811
    store, open_page = browser_for
    product = product_with_file(store, title="A Field Guide to Ferns", stamping=True)
    product_with_file(store, title="Mosses", stamping=True, data=pdf_bytes(pages=2))
    bought = purchase(store, product, email="bob.leaker@example.com")
    with in_schema(store):
        stamped_copy_make(purchase_id=bought.pk)
        with private_storage().open(StampedCopy.objects.get(purchase=bought).file.name) as f:
            found = tmp_path / "ferns-free-download.pdf"
            found.write_bytes(f.read())

    page = open_page(LAPTOP, logged_in=True)
    page.goto("/dashboard/sales/")
    page.get_by_role("link", name="Found a copy online? Trace a leaked copy").click()
    page.wait_for_load_state("load")
    assert_accessible(page, "trace-empty", report_dir=SHOTS)
    page.get_by_label("The copy you found").set_input_files(str(found))
    page.get_by_role("button", name="Trace it").click()
    page.wait_for_load_state("load")
    heading = page.get_by_role("heading", name="This copy was sold to bob.leaker@example.com")
    assert heading.is_visible()
    assert str(bought.uid) in page.content()
    page.screenshot(path=str(SHOTS / "trace-found.png"), full_page=True)
    assert_accessible(page, "trace-found", report_dir=SHOTS)

    clean = tmp_path / "clean.pdf"
    clean.write_bytes(pdf_bytes(pages=2))
    page.get_by_label("The copy you found").set_input_files(str(clean))
    page.get_by_role("button", name="Trace it").click()
    page.wait_for_load_state("load")
    assert page.get_by_role("heading", name="No mark of this store was found").is_visible()
    assert "bob.leaker@example.com" not in page.content()
