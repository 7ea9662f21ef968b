"""Product forms: they render the fields and carry the input to a service.

The services decide what is valid (prices through catalog.money, PDFs through
catalog.pdf) and raise a ValidationError keyed by these field names, which the views
attach to the form, so every refusal reads the same from the dashboard, the seed or a test.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.urls import reverse_lazy

from .money import CURRENCY_CHOICES, MoneyError, read_price
from .pdf import help_text as pdf_help_text
from .services import DOWNLOAD_LIMIT_MAX, SLOT_NAME_MAX, TITLE_MAX

COVER_HELP = (
    f"Optional. PNG, JPEG or WebP, up to {settings.COVER_MAX_UPLOAD_BYTES // (1024 * 1024)} MB. "
    "Without one, we draw page 1 of your PDF."
)


class _ProductFields(forms.Form):
    # Presence and format are checked by the services, with messages that say what to do.
    title = forms.CharField(
        required=False,
        max_length=TITLE_MAX * 2,
        widget=forms.TextInput(attrs={"required": True, "maxlength": TITLE_MAX}),
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Markdown: **bold**, *italic*, lists, [links](https://example.com).",
    )
    price = forms.CharField(
        required=False,
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "inputmode": "decimal",
                "placeholder": "12.50",
                # Where the page asks how we read the price, to show it back (upload.js).
                "data-reads-price": reverse_lazy("catalog_dash:price"),
            }
        ),
    )
    currency = forms.CharField(
        required=False, max_length=8, widget=forms.Select(choices=CURRENCY_CHOICES)
    )
    # The reading of the price the seller was shown ("12.50 eur"), so "12,50" is saved only
    # once they have seen that we read it as €12.50.
    price_confirmed = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    stamping = forms.BooleanField(
        required=False,
        label="Stamp each buyer's email on page 1 of their copy",
    )
    download_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=DOWNLOAD_LIMIT_MAX,
        label="Downloads per purchase",
        help_text="Leave empty for unlimited. Each file can have its own limit (Files).",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            reading = read_price(data.get("price") or "", data.get("currency") or "")
        except MoneyError:
            return data  # the service says what is wrong, beside the other fields' problems
        if reading.needs_confirmation and data.get("price_confirmed") != reading.token:
            self.data = self.data.copy()
            self.data[self.add_prefix("price_confirmed")] = reading.token
            again = (
                " Choose the PDF again too: browsers do not keep a file between two saves."
                if self.files
                else ""
            )
            self.add_error(
                "price",
                f"You entered “{reading.typed}”, which we read as {reading.display}. "
                f"If that is right, save again; if not, correct the price.{again}",
            )
        return data

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "title": data["title"],
            "description": data["description"],
            "price_text": data["price"],
            "currency": data["currency"],
            "stamping": data["stamping"],
            "download_limit": data["download_limit"],
        }


def _pdf_field(*, required: bool) -> forms.FileField:
    return forms.FileField(
        required=required,
        allow_empty_file=True,  # catalog.pdf says "empty" in its own words
        label="PDF",
        help_text=pdf_help_text(),
        widget=forms.ClearableFileInput(
            attrs={
                "accept": "application/pdf,.pdf",
                "data-max-bytes": settings.PDF_MAX_UPLOAD_BYTES,
            }
        ),
        error_messages={"required": "Choose the PDF buyers will get."},
    )


def _cover_field() -> forms.FileField:
    return forms.FileField(
        required=False,
        allow_empty_file=True,
        label="Cover image",
        help_text=COVER_HELP,
        widget=forms.ClearableFileInput(
            attrs={
                "accept": "image/png,image/jpeg,image/webp",
                "data-max-bytes": settings.COVER_MAX_UPLOAD_BYTES,
            }
        ),
    )


class ProductCreateForm(_ProductFields):
    file = _pdf_field(required=False)
    cover = _cover_field()

    def service_kwargs(self) -> dict[str, Any]:
        return {
            **super().service_kwargs(),
            "file": self.cleaned_data["file"] or None,
            "cover": self.cleaned_data["cover"] or None,
        }


class ProductEditForm(_ProductFields):
    cover = _cover_field()
    cover_remove = forms.BooleanField(required=False, label="Use page 1 of the PDF as the cover")

    def service_kwargs(self) -> dict[str, Any]:
        return {
            **super().service_kwargs(),
            "cover": self.cleaned_data["cover"] or None,
            "cover_remove": self.cleaned_data["cover_remove"],
        }

    @classmethod
    def initial_for(cls, product) -> dict[str, Any]:
        return {
            "title": product.title,
            "description": product.description,
            "price": product.price_text,
            "currency": product.currency,
            "stamping": product.stamping,
            "download_limit": product.download_limit,
        }


class ProductFileForm(forms.Form):
    file = _pdf_field(required=True)


def _file_limit_field() -> forms.IntegerField:
    return forms.IntegerField(
        required=False,
        min_value=1,
        max_value=DOWNLOAD_LIMIT_MAX,
        label="Downloads per purchase",
        help_text="Of this file; empty for unlimited.",
    )


class FileAddForm(forms.Form):
    """Another PDF for the product (the answers, the Letter edition)."""

    name = forms.CharField(
        required=False,
        max_length=SLOT_NAME_MAX * 2,
        label="Name buyers see",
        help_text="E.g. “Answers” or “US Letter”. Empty: the PDF's file name.",
    )
    file = _pdf_field(required=True)
    download_limit = _file_limit_field()


class FileSlotForm(forms.Form):
    """A file's name and limit; the prefix keeps each file's fields apart on one page."""

    name = forms.CharField(required=False, max_length=SLOT_NAME_MAX * 2, label="Name")
    download_limit = _file_limit_field()

    @classmethod
    def for_slot(cls, slot, data=None) -> FileSlotForm:
        return cls(
            data,
            prefix=f"f{slot.uid.hex[:8]}",
            initial={"name": slot.name, "download_limit": slot.download_limit},
        )


class FileVersionForm(forms.Form):
    file = _pdf_field(required=True)
    give_to_past_buyers = forms.BooleanField(
        required=False,
        label="Give this version to everyone who bought the file before",
        help_text="They get one email with a link to it. Unticked: past buyers keep the "
        "version they paid for; new buyers get this one.",
    )
