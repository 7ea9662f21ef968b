"""A suspended store's page names the store and offers no platform links (they would answer
503 on this host too), instead of a bare "▲" and "· digital products, sold simply"."""

from __future__ import annotations

from tenants.models import Store
from tenants.services import store_suspend
from tests.conftest import store_client
from tests.markup import parse


def test_the_suspended_page_names_the_store_and_links_nowhere_that_answers_503(alice_store):
    Store.objects.filter(pk=alice_store.pk).update(
        name="Nora's <b>Guides</b>", support_email="help@nora.example"
    )
    alice_store.refresh_from_db()
    store_suspend(store=alice_store, reason="Chargebacks under review")
    client = store_client(alice_store)
    response = client.get("/")
    assert response.status_code == 503
    html = response.content.decode()
    assert "▲" not in html and "digital products, sold simply" not in html
    assert "Nora&#x27;s &lt;b&gt;Guides&lt;/b&gt;" in html and "<b>Guides</b>" not in html
    elements = parse(response.content)
    brand = next(e for e in elements if "brand" in e.classes)
    assert brand.text.strip() == "Nora's <b>Guides</b>"
    footer = next(e for e in elements if e.tag == "footer")
    assert "Nora's <b>Guides</b>" in footer.text
    links = [e.attrs["href"] for e in elements if e.tag == "a"]
    assert links == ["mailto:help@nora.example"]
    assert not [e for e in elements if e.tag == "form"]  # no log-out form either
    # Landmarks and the one heading stay.
    assert [e.tag for e in elements if e.tag in {"header", "main", "footer"}] == [
        "header",
        "main",
        "footer",
    ]
    assert [e.text for e in elements if e.tag == "h1"] == [
        "Nora's <b>Guides</b> is temporarily unavailable"
    ]
