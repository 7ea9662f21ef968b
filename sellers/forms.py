from __future__ import annotations

from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError

from tenants.services import subdomain_available
from tenants.validators import SUBDOMAIN_MAX, validate_subdomain


class StoreCreateForm(forms.Form):
    name = forms.CharField(
        max_length=80,
        label="Store name",
        error_messages={"required": "Give your store a name."},
        widget=forms.TextInput(attrs={"placeholder": "Alice's Guides", "autofocus": True}),
    )
    subdomain = forms.CharField(
        max_length=SUBDOMAIN_MAX + 20,  # longer input gets the length message, not a cut
        label="Subdomain",
        help_text="3–40 lowercase letters, digits or hyphens.",
        error_messages={"required": "Choose a subdomain for your store."},
        widget=forms.TextInput(attrs={"placeholder": "alice", "autocapitalize": "none"}),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("Give your store a name.")
        return name

    def clean_subdomain(self) -> str:
        sub = validate_subdomain(self.cleaned_data["subdomain"])
        if not subdomain_available(sub):
            raise ValidationError("“%(sub)s” is already taken.", params={"sub": sub})
        return sub


class SignupForm(AllauthSignupForm):
    """Sign-up does the same work whether the address has an account or not.

    With ACCOUNT_PREVENT_ENUMERATION both answer "check your email"; the costly part of a
    new account is hashing its password, so an address that already has an account gets
    its password hashed too (and thrown away). Both queue one email.
    """

    def try_save(self, request):
        if self.account_already_exists:
            make_password(self.cleaned_data.get("password1"))
        return super().try_save(request)
