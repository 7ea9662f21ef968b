"""The seller's "Trace a leaked copy" page: upload a copy found online, learn whose it was.

Owner only (the answer names a buyer). The upload goes through the product upload's
limits (catalog.uploads, then catalog.pdf.pdf_validate in payments.leaks); nothing of it
is kept: the file is read from its temporary file and dropped with the request.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control

from catalog.pdf import help_text as pdf_help_text
from catalog.uploads import refused_uploads
from tenants.decorators import store_owner_required

from .tracing import leak_trace


class LeakTraceForm(forms.Form):
    file = forms.FileField(
        allow_empty_file=True,  # catalog.pdf says "empty" in its own words
        label="The copy you found",
        help_text=pdf_help_text(),
        widget=forms.ClearableFileInput(
            attrs={
                "accept": "application/pdf,.pdf",
                "data-max-bytes": settings.PDF_MAX_UPLOAD_BYTES,
            }
        ),
        error_messages={"required": "Choose the PDF you found."},
    )


@store_owner_required
def leak_trace_view(request: HttpRequest) -> HttpResponse:
    trace, status = None, 200
    if request.method == "POST":
        form = LeakTraceForm(request.POST, request.FILES)
        refused = refused_uploads(request)
        valid = form.is_valid() and not refused
        for field, message in refused.items():
            form.errors.pop(field, None)
            form.add_error("file" if field == "file" else None, message)
        if valid:
            try:
                trace = leak_trace(form.cleaned_data["file"])
            except ValidationError as exc:
                form.add_error(None, exc)
        if trace is None:
            status = 400
    else:
        form = LeakTraceForm()
    response = render(
        request,
        "payments/dashboard/trace.html",
        {"form": form, "trace": trace, "dash_section": "sales"},
        status=status,
    )
    patch_cache_control(response, private=True, no_store=True)
    return response
