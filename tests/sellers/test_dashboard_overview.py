"""Alice's overview: one period at a time (7 / 30 / 90 days / all), with revenue, net, sales,
views and conversion (paid sales ÷ views, after the rollup), per product with a trend line,
and the sites that sent the views. Mallory's overview shows none of Alice's numbers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import pageviews
from catalog.models import ProductReferrerDay, ProductViewDay
from payments.models import Purchase
from sellers.dashboard import conversion
from tests.conftest import store_client
from tests.factories import in_schema, product_with_file, purchase

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="views are counted in Redis")


def _text(html: bytes) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode()))


def _stat(html: bytes | str, label: str) -> str:
    """The first value of the overview's stat card with this label."""
    html = html if isinstance(html, str) else html.decode()
    match = re.search(
        rf'<div class="label">{re.escape(label)}</div><div class="value">([^<]*)</div>', html
    )
    assert match, label
    return match.group(1)


def _product_row(html: bytes, title: str) -> list[str]:
    row = re.search(
        rf"<tr>\s*<td[^>]*><a [^>]*>{re.escape(title)}</a></td>(.*?)</tr>", html.decode(), re.S
    )
    assert row, title
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    return [re.sub(r"<[^>]+>", " ", c).strip() for c in cells]


def test_conversion_is_the_ratio_as_a_percentage():
    assert conversion(2, 8) == "25.0 %"
    assert conversion(1, 3) == "33.3 %"
    assert conversion(0, 0) == "—" and conversion(3, 0) == "—"


@needs_redis
def test_conversion_matches_purchases_over_views_after_the_rollup(alice, alice_store):
    guide = product_with_file(alice_store, title="Fern Guide", price=1999)
    other = product_with_file(alice_store, title="Moss Guide", price=900)
    bob = Client(HTTP_HOST=alice_store.host, HTTP_USER_AGENT=BROWSER)
    for _ in range(8):
        bob.get(f"/p/{guide.slug}/", HTTP_REFERER="https://news.ycombinator.com/item?id=1")
    for _ in range(3):
        bob.get(f"/p/{other.slug}/?utm_source=newsletter")
    purchase(alice_store, guide, email="bob@example.com")
    purchase(alice_store, guide, email="carol@example.com")
    alice_client = store_client(alice_store, alice)

    before = alice_client.get("/dashboard/?period=7").content
    assert _stat(before, "Product page views") == "0"  # counted, not rolled up yet
    pageviews.views_rollup()
    html = alice_client.get("/dashboard/?period=7").content
    page = _text(html)
    assert _stat(html, "Product page views") == "11"
    assert _stat(html, "Sales") == "2"
    assert _stat(html, "Conversion") == conversion(2, 11) == "18.2 %"
    # Per product: views, sales, conversion = purchases ÷ views.
    with in_schema(alice_store):
        sold = Purchase.objects.filter(product=guide, status="paid").count()
        seen = sum(ProductViewDay.objects.filter(product=guide).values_list("views", flat=True))
    assert (sold, seen) == (2, 8)
    assert _product_row(html, "Fern Guide")[:3] == ["8", "2", "25.0 %"]
    assert _product_row(html, "Moss Guide")[:3] == ["3", "0", "0.0 %"]
    assert 'class="sparkline"' in html.decode()
    assert "news.ycombinator.com" in page and "newsletter" in page


def test_the_period_selector_shows_one_period_and_says_which(alice, alice_store):
    guide = product_with_file(alice_store, title="Fern Guide", price=1000)
    old = purchase(alice_store, guide, email="old@example.com")
    purchase(alice_store, guide, email="new@example.com")
    today = timezone.localdate()
    with in_schema(alice_store):
        Purchase.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
        ProductViewDay.objects.create(product=guide, day=today - timedelta(days=40), views=30)
        ProductViewDay.objects.create(product=guide, day=today, views=10)
        ProductReferrerDay.objects.create(
            product=guide,
            day=today - timedelta(days=40),
            kind="site",
            source="old.example",
            views=5,
        )
    client = store_client(alice_store, alice)
    expected = {
        "7": ("1", "10", "$10.00"),
        "90": ("2", "40", "$20.00"),
        "all": ("2", "40", "$20.00"),
    }
    for period, (sales, views, revenue) in expected.items():
        html = client.get(f"/dashboard/?period={period}").content
        page = _text(html)
        assert _stat(html, "Sales") == sales, period
        assert _stat(html, "Product page views") == views, period
        assert _stat(html, "Revenue") == revenue, period
        assert re.search(rf'href="\?period={period}" aria-current="page"', html.decode()), period
        assert ("old.example" in page) == (period != "7"), period
    # Junk falls back to 30 days; the four repeated rows are gone.
    html = client.get("/dashboard/?period=nonsense").content
    page = _text(html)
    assert "30 days" in page and _stat(html, "Sales") == "1"
    assert page.count("Gross sales") == 0


def test_net_is_after_the_platform_fee_and_stripes_fee_where_stripe_has_settled(alice, alice_store):
    guide = product_with_file(alice_store, title="Fern Guide", price=2000)
    settled = purchase(alice_store, guide, email="a@example.com", fee=130)
    purchase(alice_store, guide, email="b@example.com", fee=130)
    with in_schema(alice_store):
        Purchase.objects.filter(pk=settled.pk).update(
            stripe_fee=88, seller_net=2000 - 130 - 88, settlement_currency="usd"
        )
    page = _text(store_client(alice_store, alice).get("/dashboard/").content)
    # (2000 - 130 - 88) + (2000 - 130) = 3652
    assert "Net, after fees $36.52" in page
    assert "Platform $2.60 · Stripe $0.88" in page
    assert "1 sale still without Stripe's fee" in page


def test_the_overview_costs_the_same_queries_with_a_little_or_a_lot_of_data(alice, alice_store):
    client = store_client(alice_store, alice)

    def queries() -> int:
        client.get("/dashboard/?period=90")
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/dashboard/?period=90").status_code == 200
        return len(
            [
                q
                for q in captured.captured_queries
                if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
            ]
        )

    first = product_with_file(alice_store, title="Guide 0")
    purchase(alice_store, first)
    today = timezone.localdate()
    with in_schema(alice_store):
        ProductViewDay.objects.create(product=first, day=today, views=3)
    few = queries()
    products = [product_with_file(alice_store, title=f"Guide {n}") for n in range(1, 31)]
    with in_schema(alice_store):
        ProductViewDay.objects.bulk_create(
            ProductViewDay(product=p, day=today - timedelta(days=d), views=d + 1)
            for p in products
            for d in range(60)
        )
        ProductReferrerDay.objects.bulk_create(
            ProductReferrerDay(product=p, day=today, kind="site", source=f"s{n}.example", views=n)
            for n, p in enumerate(products)
        )
    for p in products[:5]:
        purchase(alice_store, p)
    many = queries()
    assert few == many


def test_mallorys_overview_never_shows_alices_views_or_referrers(
    alice, alice_store, mallory, mallory_store
):
    guide = product_with_file(alice_store, title="Alices Secret Guide")
    with in_schema(alice_store):
        ProductViewDay.objects.create(product=guide, day=timezone.localdate(), views=777)
        ProductReferrerDay.objects.create(
            product=guide,
            day=timezone.localdate(),
            kind="site",
            source="alice-fans.example",
            views=9,
        )
    assert store_client(alice_store, mallory).get("/dashboard/").status_code == 403
    html = store_client(mallory_store, mallory).get("/dashboard/?period=all").content
    page = _text(html)
    assert "777" not in page and "alice-fans.example" not in page
    assert "Alices Secret Guide" not in page
    assert _stat(html, "Product page views") == "0"
