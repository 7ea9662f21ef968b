"""Bundles (issue #12): a product of the store made of other products of the store, at its
own price. Buying it through the stand-in grants every included file, each with its own
link and limit; the thank-you page, the receipt and the library list them. A bundle
cannot include itself, another bundle, or another store's product (Mallory's uids POSTed
to Alice's dashboard are refused with a message); Mallory sees nothing of Alice's bundle.
"""

from __future__ import annotations

import re

from django.core import mail

from catalog.bundles import bundle_items_set
from catalog.models import Product
from payments.models import DownloadGrant, Purchase
from payments.services import download_links, library_link_create
from tests.conftest import main_client, store_client
from tests.factories import add_file, in_schema, product_with_file
from tests.payments.conftest import checkout_session_id, connect_store, post_event

ATTEMPT = "0123456789abcdef0123456789abcdef"


def _shelf(store):
    """Two guides of Alice's (one with a second file) and a 20.00 bundle of both (29.00)."""
    ferns = product_with_file(store, title="Ferns", price=1200, download_limit=3)
    add_file(store, ferns, name="Ferns answers", download_limit=1)
    mosses = product_with_file(store, title="Mosses", price=1700)
    return ferns, mosses


def _new_bundle(client, items, *, title="Forest Floor Bundle", price="20.00"):
    return client.post(
        "/dashboard/products/bundles/new/",
        {
            "title": title,
            "price": price,
            "currency": "usd",
            "description": "Both guides.",
            "items": [str(p.uid) for p in items],
        },
    )


def _get(store, url: str) -> int:
    response = store_client(store).get(url[url.index("/d/") :])
    if response.status_code == 200:
        b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code


def _error(page) -> str:
    found = re.search(rb'<ul class="errorlist nonfield" role="alert"><li>(.*?)</li>', page.content)
    return found.group(1).decode() if found else ""


def test_a_bundle_purchase_grants_each_file_with_its_own_link_and_limit(
    alice, alice_store, standin, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    connect_store(alice_store, standin)
    ferns, mosses = _shelf(alice_store)
    owner = store_client(alice_store, alice)
    page = _new_bundle(owner, [ferns, mosses])
    assert page.status_code == 302, _error(page)
    with in_schema(alice_store):
        bundle = Product.objects.get(is_bundle=True)
        assert set(bundle.bundle_items.all()) == {ferns, mosses}
    published = owner.post(f"/dashboard/products/{bundle.uid}/publish/", follow=True)
    assert "is on sale" in published.content.decode()

    # The storefront and the product page say what is included and what it saves.
    front = store_client(alice_store).get("/").content.decode()
    assert "Bundle: Ferns, Mosses · save $9.00" in front
    shown = store_client(alice_store).get(f"/p/{bundle.slug}/").content.decode()
    assert "Bundle of 2 products" in shown and "In this bundle" in shown
    assert "Bought separately: <s>$29.00</s> · you save $9.00 (31 %)" in shown

    session_id = checkout_session_id(
        store_client(alice_store).post(f"/buy/{bundle.slug}/", {"attempt": ATTEMPT})
    )
    made = [r for r in standin.requests("/v1/checkout/sessions") if r["method"] == "POST"][-1]
    assert made["params"]["line_items"][0]["price_data"]["unit_amount"] == "2000"
    assert int(made["params"]["payment_intent_data"]["application_fee_amount"]) == 130  # 5%+30
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com"})
    account = alice_store.stripe_account.stripe_account_id
    for event in standin.events(account=account):
        with capture(execute=True):
            post_event(main_client(), standin.event_payload(event))

    with in_schema(alice_store):
        purchase = Purchase.objects.get(checkout_session_id=session_id)
        assert (purchase.product_id, purchase.amount) == (bundle.pk, 2000)
        grants = list(DownloadGrant.objects.filter(purchase=purchase).select_related("slot"))
        # One grant per included file, each with its file's limit: 3, 1 and unlimited.
        assert sorted((g.slot.name, g.download_limit) for g in grants) == [
            ("Ferns", 3),
            ("Ferns answers", 1),
            ("Mosses", None),
        ]
        links = download_links(purchase, store=alice_store)
    assert [link.name for link in links] == [
        "Ferns: Ferns",
        "Ferns: Ferns answers",
        "Mosses: Mosses",
    ]
    assert len({link.url for link in links}) == 3
    # Each link is its own: the answers' one download does not touch the others.
    answers = next(link for link in links if link.name.endswith("answers"))
    assert _get(alice_store, answers.url) == 200
    assert _get(alice_store, answers.url) == 429  # its one download is used
    assert all(_get(alice_store, link.url) == 200 for link in links if link is not answers)

    receipt = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    for link in links:
        assert link.url in receipt.body
    thanks = store_client(alice_store).get(f"/thanks/?session_id={session_id}").content.decode()
    assert thanks.count("/d/") >= 3 and "Ferns answers" in thanks
    # The library lists them too, each with its own link.
    with in_schema(alice_store):
        token = library_link_create(email="bob@example.com")
    library = store_client(alice_store).get(f"/library/{token}/").content.decode()
    for link in links:
        assert link.url[link.url.index("/d/") :] in library
    assert "Ferns answers" in library and "Mosses" in library


def test_a_bundle_refuses_itself_another_bundle_and_another_stores_products(
    alice, alice_store, mallory, mallory_store, standin
):
    ferns, mosses = _shelf(alice_store)
    lichens = product_with_file(alice_store, title="Lichens", price=900)
    euro = product_with_file(alice_store, title="Farne", price=900, currency="eur")
    mallorys = product_with_file(mallory_store, title="Mallory Merch Manual", price=500)
    owner = store_client(alice_store, alice)
    assert _new_bundle(owner, [ferns, mosses]).status_code == 302
    with in_schema(alice_store):
        bundle = Product.objects.get(is_bundle=True)
        before = Product.objects.count()

    # Another store's product (its uid POSTed by hand): not found here, refused, nothing saved.
    page = _new_bundle(owner, [ferns, mallorys], title="Sneaky")
    assert page.status_code == 400
    assert _error(page) == (
        "One of the chosen products is not a product of this store. Nothing was saved."
    )
    page = owner.post(
        f"/dashboard/products/{bundle.uid}/bundle/", {"items": [str(ferns.uid), str(mallorys.uid)]}
    )
    assert page.status_code == 400 and "not a product of this store" in _error(page)
    page = owner.post(f"/dashboard/products/{bundle.uid}/bundle/", {"items": ["junk", "1"]})
    assert page.status_code == 400 and "not a product of this store" in _error(page)

    # Itself, another bundle, too few, another currency.
    page = owner.post(
        f"/dashboard/products/{bundle.uid}/bundle/", {"items": [str(bundle.uid), str(ferns.uid)]}
    )
    assert _error(page) == "A bundle cannot include itself."
    page = _new_bundle(owner, [bundle, lichens], title="Bundle of bundles")
    assert _error(page) == (
        "“Forest Floor Bundle” is a bundle itself: a bundle includes products, not bundles."
    )
    assert _error(_new_bundle(owner, [lichens], title="Alone")) == (
        "Choose at least 2 products for the bundle."
    )
    assert "priced in EUR" in _error(_new_bundle(owner, [lichens, euro], title="Mixed"))
    with in_schema(alice_store):
        assert Product.objects.count() == before  # no half-made bundle
        assert set(Product.objects.get(pk=bundle.pk).bundle_items.all()) == {ferns, mosses}
        # A product inside a bundle cannot become one (one level only).
        from django.core.exceptions import ValidationError

        try:
            bundle_items_set(bundle=Product.objects.get(pk=lichens.pk), item_uids=[])
        except ValidationError as exc:
            assert "has its own PDF" in exc.messages[0]
        else:
            raise AssertionError("a product with a PDF became a bundle")
    with in_schema(mallory_store):
        assert not Product.objects.filter(is_bundle=True).exists()
        assert not Product.objects.get(pk=mallorys.pk).bundles.exists()


def test_mallory_sees_and_changes_nothing_of_alices_bundle(
    alice, alice_store, mallory, mallory_store, standin
):
    ferns, mosses = _shelf(alice_store)
    owner = store_client(alice_store, alice)
    assert _new_bundle(owner, [ferns, mosses]).status_code == 302
    with in_schema(alice_store):
        bundle = Product.objects.get(is_bundle=True)
    # On Alice's host: her dashboard is not Mallory's.
    intruder = store_client(alice_store, mallory)
    assert intruder.get(f"/dashboard/products/{bundle.uid}/bundle/").status_code == 403
    assert intruder.post(
        f"/dashboard/products/{bundle.uid}/bundle/", {"items": [str(ferns.uid)]}
    ).status_code in (403, 302)
    assert intruder.post("/dashboard/products/bundles/new/", {"title": "x"}).status_code == 403
    # On her own host: Alice's bundle is not there.
    own = store_client(mallory_store, mallory)
    assert own.get(f"/dashboard/products/{bundle.uid}/bundle/").status_code == 404
    page = own.post(
        "/dashboard/products/bundles/new/",
        {
            "title": "Stolen",
            "price": "5.00",
            "currency": "usd",
            "items": [str(ferns.uid), str(mosses.uid)],
        },
    )
    assert page.status_code == 400 and "not a product of this store" in _error(page)
    assert store_client(mallory_store).get(f"/p/{bundle.slug}/").status_code == 404
    with in_schema(alice_store):
        assert set(Product.objects.get(pk=bundle.pk).bundle_items.all()) == {ferns, mosses}
