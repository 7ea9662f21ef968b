from __future__ import annotations

import pytest

from tenants.models import Domain, Store
from tenants.services import domain_add, domain_verify
from tests.conftest import store_client


def test_the_owner_changes_the_storefront_details(alice, alice_store):
    client = store_client(alice_store, alice)
    response = client.post(
        "/dashboard/settings/",
        {
            "name": "Alice's Atlas",
            "description": "Maps & guides",
            "support_email": "help@alice.test",
            "accent_color": "#0f766e",
            "notify_on_sale": "",
        },
    )
    assert response.status_code == 302
    store = Store.objects.get(pk=alice_store.pk)
    assert (store.name, store.accent_color, store.notify_on_sale) == (
        "Alice's Atlas",
        "#0f766e",
        False,
    )
    page = store_client(store).get("/").content.decode()
    assert "Alice&#x27;s Atlas" in page and "help@alice.test" in page


def test_bad_settings_are_refused_with_a_message_and_nothing_changes(alice, alice_store):
    response = store_client(alice_store, alice).post(
        "/dashboard/settings/",
        {"name": "", "accent_color": "red; background:url(x)", "support_email": "nope"},
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "Your store needs a name." in text and "Pick a colour" in text and "valid email" in text
    assert Store.objects.get(pk=alice_store.pk).name == "Alice's Guides"


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("mallory.localhost", "belong to the platform"),
        ("localhost", "like shop.example.com"),
        ("not a host", "like shop.example.com"),
        ("http://", "like shop.example.com"),
        ("10.0.0.1", "like shop.example.com"),
    ],
)
def test_a_custom_domain_must_be_a_real_domain_of_the_sellers_own(
    alice, alice_store, domain, message
):
    response = store_client(alice_store, alice).post(
        "/dashboard/settings/domains/", {"domain": domain}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Domain.objects.filter(tenant=alice_store, is_custom=True).exists()


def test_another_stores_verified_domain_cannot_be_taken(alice_store, mallory, mallory_store):
    domain = domain_add(store=alice_store, hostname="shop.alice.test")
    assert domain_verify(domain=domain, txt_lookup=lambda name: [domain.verification_token])
    response = store_client(mallory_store, mallory).post(
        "/dashboard/settings/domains/", {"domain": "SHOP.alice.test"}
    )
    assert "already connected" in response.content.decode()
    assert not Domain.objects.filter(tenant=mallory_store, is_custom=True).exists()


def test_a_custom_domain_answers_only_once_verified_and_gets_host_only_cookies(
    alice_store, settings
):
    settings.CSRF_COOKIE_DOMAIN = ".localhost"  # as in production: cookies on the parent domain
    domain = domain_add(store=alice_store, hostname="shop.alice.test")
    assert store_client(alice_store).get("/", HTTP_HOST="shop.alice.test").status_code == 404

    def txt(name):
        return [domain.verification_token] if name == "_product-purchase.shop.alice.test" else []

    def nowhere(name):
        raise OSError("NXDOMAIN")

    assert domain_verify(domain=domain, txt_lookup=nowhere) is False
    assert domain_verify(domain=domain, txt_lookup=lambda name: ["someone-else"]) is False
    assert domain_verify(domain=domain, txt_lookup=txt) is True
    # DJANGO_ALLOWED_HOSTS names the platform only: the verified domain is let in by the table.
    assert "shop.alice.test" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS
    response = store_client(alice_store).get("/library/", HTTP_HOST="shop.alice.test")
    assert response.status_code == 200
    assert response.cookies["csrftoken"]["domain"] == ""
    # The platform's own hosts keep the parent-domain cookie.
    response = store_client(alice_store).get("/library/")
    assert response.cookies["csrftoken"]["domain"] == ".localhost"


def test_an_unknown_host_gets_the_no_such_store_page(alice_store):
    response = store_client(alice_store).get("/", HTTP_HOST="evil.example.org")
    assert response.status_code == 404
    assert "evil.example.org" in response.content.decode()


def _png(size=(600, 200), color=(200, 30, 60)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def test_the_owner_uploads_a_logo_the_storefront_shows_and_can_remove_it(alice, alice_store):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = store_client(alice_store, alice)
    data = {"name": "Alice's Guides", "accent_color": "#4f46e5", "notify_on_sale": "on"}
    logo = SimpleUploadedFile("logo.png", _png(), content_type="image/png")
    assert client.post("/dashboard/settings/", {**data, "logo": logo}).status_code == 302
    store = Store.objects.get(pk=alice_store.pk)
    assert store.logo.startswith("data:image/png;base64,")
    import base64
    import io

    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(store.logo.split(",", 1)[1]))) as image:
        assert image.size[0] <= 320 and image.size[1] <= 96  # scaled to fit, metadata gone
    assert 'class="store-logo"' in store_client(store).get("/").content.decode()
    assert client.post("/dashboard/settings/", {**data, "logo_remove": "on"}).status_code == 302
    assert Store.objects.get(pk=alice_store.pk).logo == ""


def test_a_logo_that_is_not_an_image_is_refused_and_nothing_changes(alice, alice_store):
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("logo.png", b"<svg onload=alert(1)>", content_type="image/png")
    response = store_client(alice_store, alice).post(
        "/dashboard/settings/", {"name": "New name", "accent_color": "#4f46e5", "logo": bad}
    )
    assert response.status_code == 400
    assert "not an image we can read" in response.content.decode()
    store = Store.objects.get(pk=alice_store.pk)
    assert store.logo == "" and store.name == "Alice's Guides"
