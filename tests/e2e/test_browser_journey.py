"""The product as people meet it, in Debian's Chromium driven by Playwright.

A seller signs up, verifies the email, creates a store, connects Stripe (stand-in), uploads
a PDF with the progress bar and publishes; a buyer on the store's subdomain pays on the
Checkout page, lands on the thank-you page and downloads the exact bytes (from S3, through
a presigned URL); a refund from the dashboard blocks the download; an admin suspends the
store in the console and the storefront says so. Screenshots: test-artifacts/journey/.

Every page of ours the journey shows is checked with axe-core (tests/e2e/axe.py): a serious
or critical accessibility violation fails the journey; all findings go next to the
screenshots as axe-<page>.json.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
import shutil
import time
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings

from tests.browsers import CHROMIUM_ARGS
from tests.e2e.axe import add_axe, assert_accessible
from tests.factories import pdf_bytes
from tests.live import ROOT, LiveStack, unique, worker_folder
from tests.s3 import ACCESS_KEY, REGION, SECRET_KEY, moto_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "journey"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make test installs it)"
    ),
]


@pytest.fixture(scope="module")
def stack(django_db_setup):
    if not settings.REDIS_URL:
        pytest.skip("the journey needs Redis for its Celery worker")
    with moto_server(bucket="journey") as s3:
        live = LiveStack(
            worker_folder("journey-stack"),
            redis_url=settings.REDIS_URL,
            queue="journey",
            s3={
                "DJANGO_AWS_STORAGE_BUCKET_NAME": s3.bucket,
                "DJANGO_AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "DJANGO_AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "DJANGO_AWS_S3_ENDPOINT_URL": s3.endpoint,
                "DJANGO_AWS_S3_REGION_NAME": REGION,
            },
        ).start()
        live.s3 = s3
        try:
            yield live
        finally:
            live.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
        )
        yield browser
        browser.close()


class Shots:
    def __init__(self) -> None:
        shutil.rmtree(SHOTS, ignore_errors=True)
        SHOTS.mkdir(parents=True)
        self.n = 0
        self.checked: list[str] = []

    def __call__(self, page, name: str, *, axe: bool = True) -> None:
        """A screenshot, and the axe check of the page (axe=False: not a page of ours)."""
        self.n += 1
        page.screenshot(path=str(SHOTS / f"{self.n:02d}-{name}.png"), full_page=True)
        if axe:
            self.checked.append(name)
            assert_accessible(page, name, report_dir=SHOTS)

    def check(self, page, name: str) -> None:
        """The axe check alone, for a page the journey passes without a screenshot."""
        self.checked.append(name)
        assert_accessible(page, name, report_dir=SHOTS)


def _mail_link(stack: LiveStack, to: str, pattern: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted((stack.artifacts / "mail").glob("*.log")):
            text = path.read_text(errors="replace")
            if f"To: {to}" in text:
                found = re.search(pattern, text)
                if found:
                    return found.group(0)
        time.sleep(0.3)
    raise AssertionError(f"no email to {to} matching {pattern}")


def _mail_html(stack: LiveStack, to: str, subject_start: str, timeout: float = 30) -> str:
    """The HTML part of the email to `to` whose subject starts so (Django's file backend
    writes each message whole, then a line of 79 dashes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted((stack.artifacts / "mail").glob("*.log")):
            for raw in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if not raw.strip():
                    continue
                message = email.message_from_bytes(raw.strip(), policy=email.policy.default)
                if message["To"] == to and str(message["Subject"]).startswith(subject_start):
                    html = message.get_body(preferencelist=("html",))
                    if html is not None:
                        return html.get_content()
        time.sleep(0.3)
    raise AssertionError(f"no HTML email to {to} starting {subject_start!r}")


def test_a_seller_and_a_buyer_go_through_the_whole_product(
    stack, browser, django_db_blocker, tmp_path, monkeypatch
):
    # Playwright's sync API runs an event loop in this thread; the few ORM calls here are
    # plain blocking calls and safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    shot = Shots()
    base = stack.base
    email, password = f"{unique('seller')}@example.com", "a-Long-and-unusual-passphrase-42"
    sub = unique("shop-")

    # --- The seller signs up and verifies the email --------------------------------------
    seller = browser.new_context(viewport={"width": 1280, "height": 900})
    add_axe(seller)
    page = seller.new_page()
    page.goto(f"{base}/")
    shot(page, "landing")
    page.click("text=Start selling")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", password)
    page.fill("input[name=password2]", password)
    shot(page, "signup")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/confirm-email/"))
    shot(page, "verification-sent")
    link = _mail_link(stack, email, r"http://localhost:\d+/accounts/confirm-email/[^\s]+")
    page.goto(link)
    shot.check(page, "confirm-email")
    page.click("button[type=submit]")

    # --- creates a store ---------------------------------------------------------------------
    page.goto(f"{base}/start/")
    page.fill("input[name=name]", "Journey Guides")
    page.fill("input[name=subdomain]", sub)
    shot(page, "create-store")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf"http://{sub}\.localhost:\d+/dashboard/"))
    assert "is live" in page.content()
    shot(page, "dashboard-welcome")

    # --- connects Stripe (the stand-in's hosted onboarding) -----------------------------------
    page.goto(f"http://{sub}.localhost:{stack.web_port}/dashboard/stripe/")
    page.click("text=Connect with Stripe")
    page.wait_for_url(re.compile(r"/hosted/onboarding/"))
    shot(page, "stripe-onboarding", axe=False)  # Stripe's own page in production
    page.click("text=Complete onboarding")
    page.wait_for_url(re.compile(r"/dashboard/stripe/"))
    assert "Ready to sell" in page.content()
    shot(page, "stripe-ready")

    # --- uploads a PDF with the progress bar and publishes ----------------------------------------
    pdf = pdf_bytes(pages=5)
    pdf_path = tmp_path / "Field Guide to Mosses.pdf"
    pdf_path.write_bytes(pdf)
    page.goto(f"http://{sub}.localhost:{stack.web_port}/dashboard/products/new/")
    page.fill("input[name=title]", "Field Guide to Mosses")
    page.fill("textarea[name=description]", "Forty species, **photographed** and explained.")
    page.fill("input[name=price]", "14.50")
    page.set_input_files("input[name=file]", str(pdf_path))
    shot(page, "product-form")
    page.click("form#product-create button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard/products/[0-9a-f-]{36}/"))
    shot(page, "product-saved")
    page.click("form[action$='/publish/'] button")
    page.wait_for_load_state()
    assert "Published" in page.content() or "published" in page.content()
    shot(page, "product-published")

    # --- a buyer on the store's subdomain pays ----------------------------------------------------------
    buyer = browser.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True)
    add_axe(buyer)
    shop = buyer.new_page()
    shop.goto(f"http://{sub}.localhost:{stack.web_port}/")
    assert "Field Guide to Mosses" in shop.content()
    shot(shop, "storefront-phone")
    shop.click("text=Field Guide to Mosses")
    shot(shop, "product-page-phone")
    shop.click("text=Buy now")
    shop.wait_for_url(re.compile(r"/hosted/checkout/"))
    shop.fill("input[name=email]", "bob@example.com")
    shot(shop, "checkout", axe=False)  # Stripe Checkout in production
    shop.click("button.primary")
    shop.wait_for_url(re.compile(r"/thanks/\?session_id=cs_"))
    shop.wait_for_selector("#download", timeout=30_000)
    shot(shop, "thank-you")
    download_url = shop.get_attribute("#download", "href")
    with shop.expect_download() as info:
        shop.click("#download")
    downloaded = Path(info.value.path()).read_bytes()
    assert hashlib.sha256(downloaded).hexdigest() == hashlib.sha256(pdf).hexdigest()
    assert info.value.suggested_filename == "Field Guide to Mosses.pdf"
    keys = stack.s3.keys("tenants/")
    assert any(k.endswith(".pdf") and "/products/" in k for k in keys), keys

    # --- a refund from the dashboard blocks the download -----------------------------------------------------
    page.goto(f"http://{sub}.localhost:{stack.web_port}/dashboard/sales/")
    page.wait_for_selector("text=bob@example.com", timeout=30_000)
    shot(page, "sales")
    page.click("details.refund-form summary")  # opens the refund form: all that remains
    shot(page, "refund-form")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[action$='/refund/'] button[type=submit]")
    page.wait_for_selector("text=Refunded", timeout=15_000)
    shot(page, "refunded")
    response = shop.goto(download_url)
    assert response.status == 410
    assert "refunded" in shop.content()
    shot(shop, "download-refused")

    # --- the seller makes a discount code; a buyer follows a shared ?code= link and pays less ---------------
    page.goto(f"http://{sub}.localhost:{stack.web_port}/dashboard/codes/")
    page.fill("input[name=code]", "Journey20")
    page.fill("input[name=value]", "20")
    page.fill("input[name=max_uses]", "5")
    page.click("form[action$='/codes/new/'] button[type=submit]")
    page.wait_for_selector("text=JOURNEY20", timeout=15_000)
    shot(page, "codes")
    shop.goto(f"http://{sub}.localhost:{stack.web_port}/")
    shop.click("text=Field Guide to Mosses")
    product_path = shop.url.split("?")[0]
    shop.goto(f"{product_path}?code=journey20")
    assert "$11.60" in shop.content() and "Code JOURNEY20" in shop.content()
    shot(shop, "product-page-code-phone")
    shop.click("text=Buy now")
    shop.wait_for_url(re.compile(r"/hosted/checkout/"))
    shop.fill("input[name=email]", "carol@example.com")
    shop.click("button.primary")
    shop.wait_for_url(re.compile(r"/thanks/\?session_id=cs_"))
    shop.wait_for_selector("#download", timeout=30_000)
    assert "code JOURNEY20" in shop.content()
    shot(shop, "thank-you-code")
    # Her receipt, as a mail client shows it on her phone: the code, the discount, the card.
    receipt = _mail_html(stack, "carol@example.com", "Your receipt")
    assert "JOURNEY20" in receipt and "$11.60" in receipt and "4242" in receipt, receipt[:3000]
    shop.set_content(receipt)
    shot(shop, "receipt-phone", axe=False)  # an email: the mail client's page, not ours
    page.goto(f"http://{sub}.localhost:{stack.web_port}/dashboard/sales/")
    page.wait_for_selector("text=carol@example.com", timeout=30_000)
    assert "code JOURNEY20" in page.content()

    # --- an admin suspends the store in the console ---------------------------------------------------------
    admin_email = f"{unique('olivia')}@example.com"
    with django_db_blocker.unblock():
        from sellers.models import User

        admin = User.objects.create_superuser(admin_email, password)
        EmailAddress.objects.create(user=admin, email=admin_email, verified=True, primary=True)
    console_context = browser.new_context(viewport={"width": 1280, "height": 900})
    add_axe(console_context)
    console = console_context.new_page()
    console.goto(f"{base}/accounts/login/")
    shot.check(console, "sign-in")
    console.fill("input[name=login]", admin_email)
    console.fill("input[name=password]", password)
    console.click("button[type=submit]")
    console.goto(f"{base}/console/?q={sub}")
    console.click("text=Journey Guides")
    shot(console, "console-store")
    console.fill("textarea[name=reason], input[name=reason]", "Chargeback review")
    console.once("dialog", lambda dialog: dialog.accept())
    console.click("form[action$='/suspend/'] button")
    console.wait_for_load_state()
    shot(console, "console-suspended")
    response = shop.goto(f"http://{sub}.localhost:{stack.web_port}/")
    assert response.status == 503
    assert "temporarily unavailable" in shop.content()
    shot(shop, "storefront-unavailable")
    assert len(shot.checked) == 24, shot.checked
