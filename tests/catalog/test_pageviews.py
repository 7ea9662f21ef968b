"""Bob looking at Alice's product page is counted in Redis, by day, product, referring site
and utm_source; nothing is written to the database while he looks, whether the page is
rendered or comes from the page cache. The rollup copies the counts into Alice's tables
and can run any number of times. Bots, HEAD, prefetches and Alice herself are not counted,
and Mallory's views never land in Alice's store."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import pageviews
from catalog.models import ProductReferrerDay, ProductViewDay
from tests.conftest import store_client
from tests.factories import in_schema, product_with_file

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"


@pytest.fixture(autouse=True)
def _needs_redis():
    if not settings.REDIS_URL:
        pytest.skip("page views are counted in Redis (devstack test provides it)")


def bob(store) -> Client:
    return Client(HTTP_HOST=store.host, HTTP_USER_AGENT=BROWSER)


@contextmanager
def no_writes():
    """Every statement the block sends to PostgreSQL; fails on anything but a read."""
    seen: list[str] = []

    def record(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen
    writes = [
        sql
        for sql in seen
        if not sql.lstrip().upper().startswith(("SELECT", "SAVEPOINT", "RELEASE", "SET"))
    ]
    assert writes == []


def views_of(store, product) -> int:
    with in_schema(store):
        return sum(ProductViewDay.objects.filter(product=product).values_list("views", flat=True))


def sources_of(store, product) -> dict[tuple[str, str], int]:
    with in_schema(store):
        return {
            (r.kind, r.source): r.views for r in ProductReferrerDay.objects.filter(product=product)
        }


def test_a_view_costs_no_database_write_and_a_cached_view_no_query_and_both_count(alice_store):
    product = product_with_file(alice_store)
    client = bob(alice_store)
    path = f"/p/{product.slug}/"
    with no_writes() as cold:
        assert client.get(path).status_code == 200
    assert cold  # rendered: it read the product
    with no_writes(), CaptureQueriesContext(connection) as warm:
        assert client.get(path).status_code == 200
    assert len(warm.captured_queries) == 0  # from the page cache, and still counted
    with no_writes():
        assert client.get("/").status_code == 200  # the storefront writes nothing either
    assert views_of(alice_store, product) == 0  # nothing until the rollup
    pageviews.views_rollup()
    assert views_of(alice_store, product) == 2


def test_referring_sites_and_utm_sources_are_counted_apart(alice_store):
    product = product_with_file(alice_store)
    client = bob(alice_store)
    path = f"/p/{product.slug}/"
    client.get(path, HTTP_REFERER="https://www.news.ycombinator.com/item?id=1")
    client.get(path, HTTP_REFERER="https://news.ycombinator.com/")
    with no_writes():
        client.get(f"{path}?utm_source=Newsletter", HTTP_REFERER="https://mail.example.org/x")
    client.get(path, HTTP_REFERER=f"http://{alice_store.host}/")  # her own storefront
    client.get(path)
    pageviews.views_rollup()
    assert views_of(alice_store, product) == 5
    assert sources_of(alice_store, product) == {
        ("site", "news.ycombinator.com"): 2,
        ("site", "mail.example.org"): 1,
        ("utm", "newsletter"): 1,
    }


@pytest.mark.parametrize(
    "headers",
    [
        {
            "HTTP_USER_AGENT": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
        },
        {"HTTP_USER_AGENT": "curl/8.5.0"},
        {"HTTP_USER_AGENT": ""},
        {"HTTP_USER_AGENT": BROWSER, "HTTP_SEC_PURPOSE": "prefetch"},
        {"HTTP_USER_AGENT": BROWSER, "HTTP_SEC_PURPOSE": "prefetch;prerender"},
        {"HTTP_USER_AGENT": BROWSER, "HTTP_PURPOSE": "prefetch"},
    ],
    ids=["googlebot", "curl", "no-agent", "sec-purpose", "prerender", "purpose"],
)
def test_bots_and_prefetches_are_not_counted(alice_store, headers):
    product = product_with_file(alice_store)
    client = Client(HTTP_HOST=alice_store.host, **headers)
    assert client.get(f"/p/{product.slug}/").status_code == 200
    pageviews.views_rollup()
    assert views_of(alice_store, product) == 0


def test_head_a_missing_page_and_alice_herself_are_not_counted(alice, alice_store):
    product = product_with_file(alice_store)
    assert bob(alice_store).head(f"/p/{product.slug}/").status_code == 200
    assert bob(alice_store).get("/p/no-such-product/").status_code == 404
    own = store_client(alice_store, alice)
    own.defaults["HTTP_USER_AGENT"] = BROWSER
    assert own.get(f"/p/{product.slug}/").status_code == 200
    pageviews.views_rollup()
    assert views_of(alice_store, product) == 0


def test_one_counted_view_is_one_redis_round_trip(alice_store, monkeypatch):
    product = product_with_file(alice_store)
    client = bob(alice_store)
    client.get(f"/p/{product.slug}/")  # warm the page cache
    from redis.client import Pipeline

    calls = []
    real = Pipeline.execute

    def counted(self, *args, **kwargs):
        calls.append(len(self.command_stack))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", counted)
    client.get(f"/p/{product.slug}/?utm_source=x", HTTP_REFERER="https://a.example/")
    assert len(calls) == 1 and calls[0] >= 4


def test_rolling_up_twice_does_not_double_and_later_views_are_added(alice_store):
    product = product_with_file(alice_store)
    client = bob(alice_store)
    for _ in range(3):
        client.get(f"/p/{product.slug}/", HTTP_REFERER="https://blog.example/")
    pageviews.views_rollup()
    pageviews.views_rollup()
    assert views_of(alice_store, product) == 3
    assert sources_of(alice_store, product) == {("site", "blog.example"): 3}
    client.get(f"/p/{product.slug}/")
    pageviews.views_rollup()
    pageviews.views_rollup()
    assert views_of(alice_store, product) == 4


def test_views_counted_before_redis_lost_them_are_kept(alice_store):
    product = product_with_file(alice_store)
    client = bob(alice_store)
    for _ in range(3):
        client.get(f"/p/{product.slug}/")
    pageviews.views_rollup()
    # Redis restarts (it keeps nothing on disk): the day's hash is gone.
    pageviews._redis().delete(pageviews.day_key(alice_store.schema_name, timezone.localdate()))
    client.get(f"/p/{product.slug}/")
    pageviews.views_rollup()
    pageviews.views_rollup()
    assert views_of(alice_store, product) == 4


def test_days_before_yesterday_are_final_and_leave_redis(alice_store):
    product = product_with_file(alice_store)
    bob(alice_store).get(f"/p/{product.slug}/")
    today = timezone.localdate()
    key = pageviews.day_key(alice_store.schema_name, today)
    pageviews.views_rollup(today=today + timezone.timedelta(days=1))
    assert pageviews._redis().exists(key)  # yesterday may still be counting (midnight)
    pageviews.views_rollup(today=today + timezone.timedelta(days=2))
    assert not pageviews._redis().exists(key)
    assert views_of(alice_store, product) == 1


def test_mallorys_views_never_land_in_alices_store(alice_store, mallory_store):
    alices = product_with_file(alice_store, title="Same Title")
    mallorys = product_with_file(mallory_store, title="Same Title")
    with in_schema(mallory_store):
        from catalog.models import Product

        # Same slug in both stores: the counters are keyed by store.
        Product.objects.filter(pk=mallorys.pk).update(slug=alices.slug)
    for _ in range(2):
        bob(mallory_store).get(f"/p/{alices.slug}/")
    bob(alice_store).get(f"/p/{alices.slug}/")
    pageviews.views_rollup()
    assert views_of(alice_store, alices) == 1
    assert views_of(mallory_store, mallorys) == 2
