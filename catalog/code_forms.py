"""The discount-code form: it renders the fields and carries the input to
catalog.discounts.discount_code_create, which decides what is valid."""

from __future__ import annotations

from typing import Any

from django import forms

from .models import DiscountCode, Product
from .money import CURRENCY_CHOICES


class DiscountCodeForm(forms.Form):
    code = forms.CharField(
        max_length=80,
        widget=forms.TextInput(attrs={"maxlength": 40, "autocomplete": "off"}),
        help_text="Letters, digits and dashes; buyers may type it in any case.",
    )
    kind = forms.ChoiceField(choices=DiscountCode.Kind.choices, label="Discount")
    value = forms.CharField(
        max_length=32,
        label="Percent or amount",
        help_text="15 for 15 % off, or 3.50 off in the currency below.",
    )
    currency = forms.ChoiceField(
        choices=[("", "—"), *CURRENCY_CHOICES],
        required=False,
        help_text="For an amount off: it applies to products priced in this currency.",
    )
    products = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None chosen: every product of the store.",
    )
    starts_at = forms.DateTimeField(
        required=False, label="Starts", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    ends_at = forms.DateTimeField(
        required=False, label="Ends", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    max_uses = forms.IntegerField(
        required=False, min_value=1, label="Total uses", help_text="Empty for unlimited."
    )
    once_per_email = forms.BooleanField(required=False, label="One use per buyer email")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["products"].choices = [
            (str(p.uid), p.title)
            for p in Product.objects.visible_in_dashboard().only("uid", "title").order_by("title")
        ]

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "code": data["code"],
            "kind": data["kind"],
            "value": data["value"],
            "currency": data["currency"],
            "product_uids": data["products"],
            "starts_at": data["starts_at"],
            "ends_at": data["ends_at"],
            "max_uses": data["max_uses"],
            "once_per_email": data["once_per_email"],
        }
