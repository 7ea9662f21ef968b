"""A real S3 endpoint for the tests: moto's server in a subprocess, spoken to over HTTP.

    with moto_server() as s3:              # start once (a session fixture does)
        with s3_storage(s3):               # STORAGES["private"/"default"] → StoreS3Storage
            ...                            # private_storage() now writes to the bucket
        s3.keys(prefix="tenants/")         # what landed, straight from the bucket

Nothing is mocked in-process: boto3 signs real requests, django-storages uploads real
bodies, and presigned URLs are real URLs (moto does not check their signatures, so the
tests check the query string themselves).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from django.conf import settings
from django.test import override_settings
from django.test.signals import storages_changed

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"
MOTO_SERVER = Path(sys.executable).parent / "moto_server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    process: subprocess.Popen

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}),
        )

    def keys(self, prefix: str = "") -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def read(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()


def _wait_for(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"moto_server did not listen on port {port} within {timeout:.0f}s")


@contextmanager
def moto_server(*, bucket: str = "product-purchase-test") -> Iterator[S3Server]:
    """Start `moto_server -H 127.0.0.1 -p <free port>`, create the bucket, stop it after."""
    port = free_port()
    process = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, process)
        server = S3Server(endpoint=f"http://127.0.0.1:{port}", bucket=bucket, process=process)
        server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def reset_storages() -> None:
    """Django caches storage instances (django.core.files.storage.storages): drop them so
    the next lookup reads the settings. This is Django's own handler for a STORAGES change,
    which override_settings also fires on entry and exit."""
    storages_changed(setting="STORAGES")


@contextmanager
def s3_storage(server: S3Server) -> Iterator[None]:
    """Private (and default) storage on the moto bucket, as production is configured."""
    backend = {"BACKEND": "catalog.storage.StoreS3Storage", "OPTIONS": {}}
    overrides = override_settings(
        STORAGES={**settings.STORAGES, "default": backend, "private": backend},
        AWS_STORAGE_BUCKET_NAME=server.bucket,
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_S3_ENDPOINT_URL=server.endpoint,
        AWS_S3_REGION_NAME=REGION,
    )
    with overrides:
        reset_storages()
        yield
    reset_storages()
