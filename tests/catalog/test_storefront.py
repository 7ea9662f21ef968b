"""What buyers see on Alice's store: published products only, safely rendered, in a
constant number of queries however many products she has."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from catalog.models import Product
from catalog.services import product_create, product_publish
from tenants.pagecache import store_pages_forget
from tenants.routing import store_for_host
from tests.catalog.factories import ProductFactory
from tests.catalog.pdfs import good_pdf, upload
from tests.conftest import store_client


def published(store, **fields) -> Product:
    with schema_context(store.schema_name):
        product = product_create(
            title=fields.pop("title", "A Field Guide to Ferns"),
            description=fields.pop("description", "Everything about **ferns**."),
            price_text=fields.pop("price_text", "12.50"),
            currency="usd",
            file=upload(good_pdf(pages=9)),
        )
        return product_publish(product=product, store=store)


def queries_for(client, path: str) -> list[str]:
    """The queries of rendering the page (not of serving it from the page cache)."""
    client.get(path)  # warm the host → store cache
    store_pages_forget(store_for_host(client.defaults["HTTP_HOST"]).schema_name)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def test_the_storefront_lists_published_products_only(alice_charging):
    published(alice_charging, title="Ferns for beginners")
    with schema_context(alice_charging.schema_name):
        ProductFactory(title="Secret draft", status=Product.Status.DRAFT)
        ProductFactory(title="Old archived", status=Product.Status.ARCHIVED)
    response = store_client(alice_charging).get("/")
    assert response.status_code == 200
    assert b"Ferns for beginners" in response.content
    assert b"$12.50" in response.content
    assert b"Secret draft" not in response.content
    assert b"Old archived" not in response.content


def test_the_product_page_shows_the_facts_and_the_buy_button(alice_charging):
    product = published(alice_charging)
    response = store_client(alice_charging).get(f"/p/{product.slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "A Field Guide to Ferns" in html
    assert "9 pages" in html
    assert "$12.50" in html
    assert "<strong>ferns</strong>" in html
    assert "Buy now" in html  # payments/_buy.html
    assert "Cover on its way" in html  # page 1 is drawn after the commit


def test_drafts_and_archived_products_are_not_found_by_buyers(alice_store):
    with schema_context(alice_store.schema_name):
        draft = ProductFactory(status=Product.Status.DRAFT)
        archived = ProductFactory(status=Product.Status.ARCHIVED)
    client = store_client(alice_store)
    assert client.get(f"/p/{draft.slug}/").status_code == 404
    assert client.get(f"/p/{archived.slug}/").status_code == 404
    assert client.get("/p/no-such-thing/").status_code == 404


def test_html_in_a_title_or_description_comes_out_escaped_or_stripped(alice_charging):
    product = published(
        alice_charging,
        title="<script>alert('title')</script> Ferns",
        description=(
            "Hello <script>alert('description')</script>\n\n"
            '<img src=x onerror="alert(1)"> [click](javascript:alert(2)) '
            '<a href="https://example.com" onclick="steal()">ok</a>'
        ),
    )
    client = store_client(alice_charging)
    for path in ("/", f"/p/{product.slug}/"):
        html = client.get(path).content.decode()
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt; Ferns" in html
    html = client.get(f"/p/{product.slug}/").content.decode()
    assert "alert('description')" not in html
    assert "onerror" not in html and "onclick" not in html
    assert "javascript:" not in html
    assert 'href="https://example.com"' in html
    assert 'rel="nofollow noopener noreferrer ugc"' in html


def test_the_storefront_costs_the_same_queries_for_1_or_30_products(alice_store):
    with schema_context(alice_store.schema_name):
        ProductFactory()
    client = store_client(alice_store)
    with_one = queries_for(client, "/")
    with schema_context(alice_store.schema_name):
        ProductFactory.create_batch(29)
    with_thirty = queries_for(client, "/")
    assert len(with_one) == len(with_thirty)
    assert len([q for q in with_thirty if not q.upper().startswith("SET")]) == 1, with_thirty
    assert client.get("/").content.count(b'class="product-card"') == 30


def test_the_product_page_costs_the_same_queries_for_1_or_30_products(alice_store):
    with schema_context(alice_store.schema_name):
        product = ProductFactory()
    client = store_client(alice_store)
    with_one = queries_for(client, f"/p/{product.slug}/")
    with schema_context(alice_store.schema_name):
        ProductFactory.create_batch(29)
    with_thirty = queries_for(client, f"/p/{product.slug}/")
    assert len(with_one) == len(with_thirty)
    # The product, and its files (the page lists them when it has several).
    assert len([q for q in with_thirty if not q.upper().startswith("SET")]) == 2, with_thirty


def test_a_cover_is_served_publicly_with_a_long_cache(
    alice_charging, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        product = published(alice_charging)
    with schema_context(alice_charging.schema_name):
        product.refresh_from_db()
    assert product.cover_url.startswith("/covers/")
    page = store_client(alice_charging).get(f"/p/{product.slug}/").content.decode()
    assert f'src="{product.cover_url}"' in page
    response = store_client(alice_charging).get(product.cover_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "max-age=31536000" in response["Cache-Control"]
    assert "immutable" in response["Cache-Control"]
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_an_unknown_cover_is_not_found(alice_store):
    response = store_client(alice_store).get("/covers/00000000-0000-4000-8000-000000000000.png")
    assert response.status_code == 404
    assert store_client(alice_store).get("/covers/..%2F..%2Fetc%2Fpasswd.png").status_code == 404
