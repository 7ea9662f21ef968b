"""The upload size limit, enforced before a byte of the body is kept.

One setting, ``settings.PDF_MAX_UPLOAD_BYTES`` (from ``PDF_MAX_UPLOAD_MB``, 200 by default,
counted in MiB as nginx's ``m`` and Windows' "MB" are), and three layers that say the same:

1. nginx: ``client_max_body_size ${PDF_MAX_UPLOAD_MB}m`` (deploy/nginx), answering 413 with
   the message below before the body leaves the client's connection;
2. ``UploadLimitMiddleware``: a request whose Content-Length is over the limit is answered
   413 before Django reads its body (development and platforms without our nginx);
3. ``LimitedUploadHandler``: while a multipart body is parsed, a file that grows past the
   limit stops the parse; nothing more is read or written, its temporary file is closed
   (and so deleted), and the form says why.

The limit is for the whole request at layers 1 and 2 (nginx cannot tell a PDF from the
form around it), so a PDF a few KB under the limit with a cover on top is refused there
too, with the same words; the help text says "up to 200 MB".
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse
from django.utils.html import escape

from .pdf import megabytes, megabytes_over, too_large_message


def request_too_large_message(limit: int, size: int | None = None) -> str:
    has = f" ({megabytes_over(size, limit)})" if size else ""
    return (
        f"This upload is larger than {megabytes(limit)}{has}, the most a product PDF may be. "
        "Choose a smaller file and try again."
    )


def _too_large(request: HttpRequest, limit: int, size: int) -> HttpResponse:
    message = request_too_large_message(limit, size)
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Upload too large</title></head><body><main><h1>Upload too large</h1>"
        f"<p>{escape(message)}</p><p><a href='javascript:history.back()'>Back</a></p>"
        "</main></body></html>"
    )
    return HttpResponse(page, status=413, content_type="text/html; charset=utf-8")


class UploadLimitMiddleware:
    """Refuse a body over the limit from its Content-Length, without reading it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.PDF_MAX_UPLOAD_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return _too_large(request, limit, length)
        return self.get_response(request)


class LimitedUploadHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: stops the parse when one file passes the limit."""

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        limit = settings.PDF_MAX_UPLOAD_BYTES
        if self.received > limit:
            refused = getattr(self.request, "uploads_refused", {})
            refused[self.field_name] = too_large_message(limit)
            self.request.uploads_refused = refused
            # connection_reset: do not read (or write) the rest of the body.
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handlers keep the file


def refused_uploads(request: HttpRequest) -> dict[str, str]:
    """The file fields LimitedUploadHandler stopped, with what to tell the seller."""
    return dict(getattr(request, "uploads_refused", {}))
