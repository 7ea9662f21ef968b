"""The security suite's cast, on top of tests/conftest.py.

Alice owns store `alice` and has everything worth stealing: a published product, a draft
nobody may see, a cover, a sale to Bob with its download token, a library magic link and
the thank-you session id, a custom domain and a hand-off token. Mallory owns store
`mallory` and knows every one of those identifiers. Bob bought from Alice; he has no
account, only his links.

Each identifier is made through the product's own services (or its own pages, for the
hand-off), so the suite follows the product when token formats change.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.db.models import Model
from django.utils.html import escape

from catalog.discounts import discount_code_create
from catalog.models import DiscountCode, FileSlot, Product, ProductFile
from catalog.services import product_cover_sizes_make
from catalog.storage import private_storage
from payments.models import DownloadGrant, Purchase, UpdateOptOut
from payments.services import download_token_for, library_link_create, optout_token
from tenants.models import Domain, Store
from tenants.services import domain_add
from tests.catalog.pdfs import image_bytes
from tests.conftest import main_client
from tests.factories import add_file, in_schema, pdf_bytes, product_with_file, purchase
from tests.payments.conftest import _standin_server, standin  # noqa: F401 - fixtures
from tests.s3 import reset_storages

BOB = "bob.buyer.7741@example.com"


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings) -> Iterator[Path]:
    """Private files in a folder of this test's own (never .run/media)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = dict(settings.STORAGES)  # fires Django's storage-cache reset
    reset_storages()
    yield root
    reset_storages()


def stored_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@dataclass
class AliceWorld:
    """Alice's store and every identifier an attacker could have collected from it."""

    store: Store
    owner: Model
    product: Product
    draft: Product
    purchase: Purchase
    file_bytes: bytes
    file_marker: bytes
    cover_key: str
    download_token: str
    library_token: str
    session_id: str
    domain: Domain
    handoff_token: str
    secrets_public: list[str] = field(default_factory=list)
    secrets_private: list[str] = field(default_factory=list)
    code_uid: str = ""  # a discount code of hers (its text is among secrets_private)
    # Her product's second file ("Answers"), Bob's link to it, and his unsubscribe link.
    slot_uid: str = ""
    second_file_bytes: bytes = b""
    second_file_marker: bytes = b""
    second_download_token: str = ""
    unsubscribe_token: str = ""

    def forbidden_on_other_hosts(self) -> list[bytes]:
        """Nothing of Alice's may show on another store's host, not even her shop window."""
        return [
            *_variants(self.secrets_public + self.secrets_private),
            self.file_marker,
            self.second_file_marker,
        ]

    def forbidden_for_strangers(self) -> list[bytes]:
        """On her own host, strangers see her shop window, never what only she or Bob may see."""
        return [*_variants(self.secrets_private), self.file_marker, self.second_file_marker]

    def snapshot(self) -> dict:
        """Everything about Alice that a request from someone else must not change."""
        store = Store.objects.get(pk=self.store.pk)
        with in_schema(self.store):
            products = sorted(
                Product.objects.values_list("uid", "title", "status", "slug", "file", "cover")
            )
            sales = sorted(
                Purchase.objects.values_list("uid", "status", "buyer_email", "refunded_at")
            )
            grants = sorted(
                DownloadGrant.objects.values_list(
                    "purchase_id", "download_count", "revoked_at", "token_hash"
                )
            )
            codes = sorted(DiscountCode.objects.values_list("uid", "code", "active", "uses"))
            files = sorted(
                FileSlot.objects.values_list(
                    "uid", "name", "position", "download_limit", "current_id"
                )
            )
            versions = sorted(ProductFile.objects.values_list("pk", "file", "slot_id"))
            grant_versions = sorted(DownloadGrant.objects.values_list("pk", "version_id"))
            optouts = sorted(UpdateOptOut.objects.values_list("email", flat=True))
        return {
            "store": (
                store.name,
                store.status,
                store.description,
                store.accent_color,
                store.support_email,
                store.owner_id,
                store.fee_percent,
            ),
            "domains": sorted(
                Domain.objects.filter(tenant_id=self.store.pk).values_list("domain", "verified_at")
            ),
            "products": products,
            "sales": sales,
            "grants": grants,
            "codes": codes,
            "files": (files, versions, grant_versions, optouts),
        }


def _variants(values: list[str]) -> list[bytes]:
    """A secret as it would appear raw, HTML-escaped or URL-quoted."""
    out: set[bytes] = set()
    for value in values:
        for form in (value, str(escape(value)), quote(value), quote(value, safe="")):
            out.add(form.encode())
    return sorted(out)


def handoff_token_for(user, store: Store, host: str = "") -> str:
    """A real hand-off token, issued by the main domain as it would be to the user."""
    response = main_client(user).get(
        "/accounts/handoff/", {"next": f"http://{host or store.host}/dashboard/"}
    )
    assert response.status_code == 302, response
    return parse_qs(urlsplit(response["Location"]).query)["token"][0]


def verified_domain(store: Store, host: str) -> Domain:
    """A custom domain the store has proved its own (its TXT record published)."""
    from tenants.services import domain_verify

    domain = domain_add(store=store, hostname=host)
    assert domain_verify(domain=domain, txt_lookup=lambda name: [domain.verification_token])
    return domain


def hand_off(main, host: str, path: str = "/dashboard/"):
    """Follow the store page → main domain → store page sign-in hand-off as a browser
    does, with `main` the user's browser on the main domain; returns the store browser."""
    from django.test import Client

    browser = Client(HTTP_HOST=host)
    first = browser.get(path)
    assert first.status_code == 302
    start = urlsplit(first["Location"])
    assert start.path == "/accounts/handoff/"
    handed = main.get(f"{start.path}?{start.query}")
    assert handed.status_code == 302, handed.content[:300]
    target = urlsplit(handed["Location"])
    assert (target.hostname, target.path) == (host, "/auth/handoff/")
    finish = browser.get(f"{target.path}?{target.query}")
    assert (finish.status_code, finish["Location"]) == (302, path)
    return browser


def build_alice_world(store: Store, owner) -> AliceWorld:
    marker = f"ALICE-FILE-BYTES-{uuid.uuid4().hex}".encode()
    data = pdf_bytes() + b"%" + marker + b"\n%%EOF\n"
    product = product_with_file(store, title="Fernwood Atlas Secret Edition", data=data)
    draft = product_with_file(store, title="Unreleased Moss Compendium", status="draft")
    second_marker = f"ALICE-ANSWERS-BYTES-{uuid.uuid4().hex}".encode()
    second = pdf_bytes(2) + b"%" + second_marker + b"\n%%EOF\n"
    slot = add_file(store, product, name="Answers", data=second, raw=True)
    sale = purchase(store, product, email=BOB)
    with in_schema(store):
        cover = private_storage().save(f"covers/{uuid.uuid4()}.png", ContentFile(image_bytes()))
        Product.objects.filter(pk=product.pk).update(
            cover=cover, cover_state=Product.CoverState.READY
        )
        product_cover_sizes_make(product_id=product.pk)  # its WebP copies, as the task does
        product.refresh_from_db()
        sale = Purchase.objects.prefetch_related("grants").get(pk=sale.pk)
        download_token = download_token_for(sale, store=store)
        second_grant = DownloadGrant.objects.get(purchase=sale, slot=slot)
        second_token = download_token_for(sale, store=store, grant=second_grant)
        library_token = library_link_create(email=BOB)
        storage_key = f"tenants/{store.schema_name}/{product.file.name}"
        code = discount_code_create(code="ALICE-INSIDER-70", kind="percent", value="70")
    domain = domain_add(store=store, hostname="shop.alice-guides.test")
    return AliceWorld(
        store=store,
        owner=owner,
        product=product,
        draft=draft,
        purchase=sale,
        file_bytes=data,
        file_marker=marker,
        cover_key=product.cover_key,
        download_token=download_token,
        library_token=library_token,
        session_id=sale.checkout_session_id,
        domain=domain,
        handoff_token=handoff_token_for(owner, store),
        code_uid=str(code.uid),
        slot_uid=str(slot.uid),
        second_file_bytes=second,
        second_file_marker=second_marker,
        second_download_token=second_token,
        unsubscribe_token=optout_token(schema=store.schema_name, email=BOB),
        secrets_public=[store.name, product.title, store.host, "Alice's Guides"],
        secrets_private=[
            BOB,
            owner.email,
            draft.title,
            product.sha256,
            storage_key,
            store.schema_name,
            code.code,
        ],
    )


@pytest.fixture
def world(alice, alice_store, mallory_store) -> AliceWorld:
    # Mallory's store has a product of its own, so her pages are not trivially empty.
    product_with_file(mallory_store, title="Mallory Merch Manual")
    return build_alice_world(alice_store, alice)
