"""Redis is the cache and the Celery broker, never the source of truth: without it the
shops keep selling pages (the cache degrades to the database) and /healthz says exactly
what is missing, so the balancer and the on-call person both know.
"""

from __future__ import annotations

import json

from django_tenants.utils import schema_context

from tenants.services import store_create
from tests.conftest import make_seller
from tests.factories import product_with_file
from tests.live import unique
from tests.reliability.conftest import http_get, wait_until, web_server

CLOSED_PORT = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def _shop() -> tuple[str, list[str], str]:
    owner = make_seller(f"{unique('cachefree')}@example.com")
    store = store_create(owner=owner, name="Cache Free Books", subdomain=unique("nocache-"))
    title = f"Offline Atlas {unique('')}"
    product = product_with_file(store, title=title)
    with schema_context(store.schema_name):
        return store.host, ["/", product.get_absolute_url()], title


def _pages_serve(port: int, host: str, paths: list[str], title: str, *, times: int = 3) -> None:
    for _ in range(times):
        for path in paths:
            answer = http_get(port, host, path)
            assert answer.status == 200, (path, answer.status, answer.error)
            assert title.encode() in answer.body
            assert answer.seconds < 5, (path, answer.seconds)


def _health(port: int) -> tuple[int, dict]:
    answer = http_get(port, "localhost", "/healthz")
    assert answer.seconds < 10, answer.seconds
    return answer.status, json.loads(answer.body or b"{}")


def _assert_degraded(port: int) -> None:
    status, report = _health(port)
    assert status == 503, report
    assert report["status"] == "degraded"
    checks = report["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["cache"]["status"].startswith("error"), checks
    assert checks["broker"]["status"].startswith("error"), checks


def test_shops_serve_and_healthz_names_cache_and_broker_when_redis_is_unreachable(committed):
    host, paths, title = _shop()
    with web_server("redis-unreachable", redis_url=CLOSED_PORT) as web:
        _pages_serve(web.web_port, host, paths, title)
        _assert_degraded(web.web_port)


def test_shops_keep_serving_while_redis_stops_and_health_recovers_when_it_returns(
    redis_server, committed
):
    host, paths, title = _shop()
    with web_server("redis-restart", redis_url=redis_server.url) as web:
        status, report = _health(web.web_port)
        assert status == 200, report
        assert {c["status"] for c in report["checks"].values()} == {"ok"}
        assert set(report["checks"]) == {"database", "cache", "broker"}
        _pages_serve(web.web_port, host, paths, title)  # the routing cache is warm now

        redis_server.stop()
        _pages_serve(web.web_port, host, paths, title)
        _assert_degraded(web.web_port)

        redis_server.start()  # same port, empty: nothing cached survives
        wait_until(lambda: _health(web.web_port)[0] == 200, timeout=20, interval=0.5,
                   what="/healthz to answer 200 again")  # fmt: skip
        _pages_serve(web.web_port, host, paths, title)
