"""The one place that knows how a store's private files are keyed and delivered.

Names kept in the database are relative ("products/<uuid>.pdf"); the storage puts them
under the *active* store's prefix, `tenants/<schema>/`, at call time. A name read in
Mallory's schema therefore resolves under Mallory's prefix: Alice's keys cannot be
reached from another store, whatever a request supplies.
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage, storages
from django.db import connection
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from storages.backends.s3 import S3Storage


def store_prefix() -> str:
    schema = connection.schema_name
    if not schema or schema == settings.PUBLIC_SCHEMA_NAME:
        raise ImproperlyConfigured("Store files are only reachable inside a store's schema.")
    return f"tenants/{schema}/"


def _relative(name: str) -> str:
    name = str(name).replace("\\", "/")
    normalised = posixpath.normpath(name)
    if (
        not name
        or name.startswith("/")  # absolute: never a store-relative name
        or (len(name) > 1 and name[1] == ":")  # a Windows drive
        or normalised in (".", "")
        or normalised.startswith("..")
        or "/../" in f"/{normalised}/"
        or "\x00" in name
    ):
        raise SuspiciousFileOperation(f"Refused file name {name!r}.")
    return normalised


def store_key(name: str) -> str:
    """The full key of a store-relative name in the active store."""
    return store_prefix() + _relative(name)


class StoreFileSystemStorage(FileSystemStorage):
    """Local disk with the S3 layout: MEDIA_ROOT/tenants/<schema>/…"""

    def __init__(self, **kwargs):
        kwargs.setdefault("location", settings.MEDIA_ROOT)
        kwargs.setdefault("base_url", None)
        super().__init__(**kwargs)

    def path(self, name: str) -> str:
        return super().path(store_key(name))

    def _save(self, name: str, content) -> str:
        # FileSystemStorage returns the path relative to MEDIA_ROOT, prefix included;
        # the database keeps store-relative names (as S3Storage returns them).
        saved = super()._save(name, content)
        return saved.removeprefix(store_prefix())

    def url(self, name: str) -> str:
        raise NotImplementedError("Private files have no public URL; see deliver().")

    def deliver(self, name: str, *, filename: str, content_type: str) -> HttpResponse:
        disposition = content_disposition(filename)
        if settings.PROTECTED_MEDIA_DELIVERY == "nginx":
            # nginx sends the bytes from its internal location (deploy/nginx).
            response = HttpResponse(content_type=content_type)
            response["X-Accel-Redirect"] = settings.PROTECTED_MEDIA_INTERNAL_URL + quote(
                store_key(name)
            )
            response["Content-Disposition"] = disposition
            return response
        response = FileResponse(open(self.path(name), "rb"), content_type=content_type)  # noqa: SIM115
        response["Content-Disposition"] = disposition
        return response


class StoreS3Storage(S3Storage):
    """A private bucket; every key under tenants/<schema>/; URLs are signed."""

    default_acl = None
    querystring_auth = True
    file_overwrite = False

    def get_default_settings(self):
        defaults = super().get_default_settings()
        defaults.update(
            access_key=settings.AWS_ACCESS_KEY_ID,
            secret_key=settings.AWS_SECRET_ACCESS_KEY,
            bucket_name=settings.AWS_STORAGE_BUCKET_NAME,
            endpoint_url=settings.AWS_S3_ENDPOINT_URL,
            region_name=settings.AWS_S3_REGION_NAME,
            querystring_auth=True,
            querystring_expire=settings.AWS_QUERYSTRING_EXPIRE,
            default_acl=None,
            file_overwrite=False,
            addressing_style="path",
            signature_version="s3v4",
        )
        return defaults

    def _normalize_name(self, name: str) -> str:
        return super()._normalize_name(store_key(name))

    def deliver(self, name: str, *, filename: str, content_type: str) -> HttpResponse:
        url = self.url(
            name,
            parameters={
                "ResponseContentDisposition": content_disposition(filename),
                "ResponseContentType": content_type,
            },
            expire=min(settings.AWS_QUERYSTRING_EXPIRE, 600),
        )
        return HttpResponseRedirect(url)


def content_disposition(filename: str) -> str:
    """attachment; with an ASCII fallback and the UTF-8 name (RFC 6266)."""
    safe = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename
    )
    return f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(filename)}"


def private_storage():
    return storages["private"]
