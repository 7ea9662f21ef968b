"""Download authorisation: requests/s of `/d/<token>/` (a 302 to a presigned S3 URL)
against a hello view (`/robots.txt`) in the same run, and queries per download.

    python -m bench.download_auth [--seconds 10]

S3 is a moto_server on loopback; gunicorn (2 workers × 4 threads) serves the app; wrk
(16 connections) drives it. Every download is counted and logged (the grant is unlimited),
so this is the full paywall check, not a cached answer.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.common import (
    ROOT,
    bench_database_url,
    database_recreate,
    django_setup,
    gunicorn,
    production_like_env,
    wrk,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.live import free_port, wait_for_port

    s3_port = free_port()
    moto = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(s3_port)
        url = bench_database_url()
        database_recreate(url)
        env = production_like_env(
            CELERY_TASK_ALWAYS_EAGER="1",
            DJANGO_AWS_STORAGE_BUCKET_NAME="bench",
            DJANGO_AWS_ACCESS_KEY_ID="bench",
            DJANGO_AWS_SECRET_ACCESS_KEY="bench-secret",
            DJANGO_AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{s3_port}",
        )
        django_setup(url, **env)
        import boto3
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext
        from django_tenants.utils import schema_context

        from payments.models import Purchase
        from payments.services import download_token_for
        from sellers.models import User
        from tenants.services import store_create
        from tests.factories import product_with_file, purchase

        boto3.client(
            "s3",
            endpoint_url=env["DJANGO_AWS_S3_ENDPOINT_URL"],
            aws_access_key_id="bench",
            aws_secret_access_key="bench-secret",
            region_name="us-east-1",
        ).create_bucket(Bucket="bench")
        call_command("migrate_platform", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        owner = User.objects.create_user("bench@example.com", "bench-password-123")
        store = store_create(owner=owner, name="Bench Books", subdomain="bench")
        product = product_with_file(store)
        bought = purchase(store, product)
        with schema_context(store.schema_name):
            token = download_token_for(
                Purchase.objects.prefetch_related("grants").get(pk=bought.pk), store=store
            )

        client = Client(HTTP_HOST=store.host)
        client.get("/robots.txt")
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/d/{token}/")
        assert response.status_code == 302, response.status_code
        queries = [
            q["sql"]
            for q in captured.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "SET"))
        ]
        for sql in queries:
            print("   ", sql[:110])
        print(
            f"queries per download: {len(queries)} (goal <= 3; plus one SET search_path when the connection last served another store); presigned URL expires in "
            f"{response['Location'].split('X-Amz-Expires=')[1].split('&')[0]} s"
        )

        port = 18321
        with gunicorn("config.wsgi:application", port, env, workers=2, threads=4):
            wrk(f"http://127.0.0.1:{port}/robots.txt", store.host, seconds=2)
            hello = wrk(f"http://127.0.0.1:{port}/robots.txt", store.host, seconds=args.seconds)
            wrk(f"http://127.0.0.1:{port}/d/{token}/", store.host, seconds=2)
            started = time.monotonic()
            download = wrk(f"http://127.0.0.1:{port}/d/{token}/", store.host, seconds=args.seconds)
            elapsed = time.monotonic() - started
        for name, r in (("hello /robots.txt", hello), ("download /d/<token>/", download)):
            print(
                f"{name:>22}: {r['rps']:8.1f} req/s  p99 {r['p99_ms']:.1f} ms  non-2xx/3xx {r['non_2xx']}"
            )
        with schema_context(store.schema_name):
            count = Purchase.objects.get(pk=bought.pk).grant.download_count
        print(
            f"download/hello ratio {download['rps'] / hello['rps']:.2f}; downloads counted {count} "
            f"(~{count / max(elapsed, 1):.0f}/s incl. warm-up)"
        )
    finally:
        moto.terminate()
        moto.wait(timeout=10)


if __name__ == "__main__":
    main()
