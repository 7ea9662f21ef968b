from __future__ import annotations

from tests.conftest import main_client


def test_healthz_reports_database_and_cache(db):
    response = main_client().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["cache"]["status"] == "ok"


def test_healthz_says_degraded_when_the_cache_loses_writes(db, settings):
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    response = main_client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["status"].startswith("error")
    assert response.json()["checks"]["database"]["status"] == "ok"
