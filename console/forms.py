from __future__ import annotations

from decimal import Decimal

from django import forms

from .services import FEE_FIXED_MAX, FEE_PERCENT_MAX


class SuspendForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The seller sees this on their dashboard.",
        error_messages={"required": "Say why the store is suspended; the seller sees it."},
    )


class FeeForm(forms.Form):
    """Blank fields mean "use the platform default" for that part of the fee."""

    fee_percent = forms.DecimalField(
        label="Percent",
        required=False,
        min_value=Decimal(0),
        max_value=FEE_PERCENT_MAX,
        max_digits=4,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
        help_text="0–50, up to 2 decimals.",
    )
    fee_fixed = forms.IntegerField(
        label="Fixed (minor units)",
        required=False,
        min_value=0,
        max_value=FEE_FIXED_MAX,
        widget=forms.NumberInput(attrs={"step": "1", "inputmode": "numeric"}),
        help_text="Cents for USD/EUR, whole yen for JPY.",
    )
