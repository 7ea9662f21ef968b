from __future__ import annotations

from django import forms

from tenants.validators import FEE_FIXED_MAX, FEE_PERCENT_MAX


class SuspendForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The seller sees this on their dashboard.",
        error_messages={"required": "Say why the store is suspended; the seller sees it."},
    )


class FeeForm(forms.Form):
    """Blank fields mean "use the platform default" for that part of the fee.

    The form only parses; the bounds are checked once, by tenants.validators.fee_validate
    (called by the console's service), whose errors the view puts back on these fields.
    min/max below are for the browser's number inputs only."""

    fee_percent = forms.DecimalField(
        label="Percent",
        required=False,
        widget=forms.NumberInput(
            attrs={"step": "0.01", "inputmode": "decimal", "min": 0, "max": FEE_PERCENT_MAX}
        ),
        help_text="0–50, up to 2 decimals.",
    )
    fee_fixed = forms.IntegerField(
        label="Fixed (minor units)",
        required=False,
        widget=forms.NumberInput(
            attrs={"step": "1", "inputmode": "numeric", "min": 0, "max": FEE_FIXED_MAX}
        ),
        help_text="Cents for USD/EUR, whole yen for JPY.",
    )
