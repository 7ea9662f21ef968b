"""Store settings on the store's domain: storefront details, sale emails, custom domains."""

from __future__ import annotations

import base64

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from catalog.images import image_to_png
from tenants.decorators import store_owner_or_admin_view, store_owner_required
from tenants.models import Domain
from tenants.services import (
    domain_add,
    domain_remove,
    domain_txt_name,
    domain_verify,
    store_update_settings,
)

LOGO_MAX_UPLOAD = 5 * 1024 * 1024
SETTINGS_FIELDS = (
    "name",
    "description",
    "support_email",
    "accent_color",
    "notify_on_sale",
    "tax_enabled",
)
TAX_HELP = (
    "Off by default. When on, Stripe Tax adds sales tax or VAT on top of your prices at "
    "checkout, depending on where the buyer is, and the buyer's receipt shows it. It uses "
    "the tax registrations in your own Stripe Dashboard (Tax → Registrations): where you "
    "register, and filing and paying the tax, stay yours. Where you have no registration, "
    "no tax is added. Our platform fee is on the price before tax."
)


class StoreSettingsForm(forms.Form):
    name = forms.CharField(max_length=80, error_messages={"required": "Your store needs a name."})
    description = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown under your store's name on the storefront.",
    )
    support_email = forms.EmailField(
        required=False, help_text="Shown to buyers for questions about purchases."
    )
    accent_color = forms.RegexField(
        regex=r"^#[0-9a-fA-F]{6}$",
        widget=forms.TextInput(attrs={"type": "color"}),
        error_messages={"invalid": "Pick a colour like #4f46e5."},
    )
    notify_on_sale = forms.BooleanField(required=False, label="Email me on every sale")
    tax_enabled = forms.BooleanField(
        required=False, label="Collect sales tax and VAT with Stripe Tax", help_text=TAX_HELP
    )
    logo = forms.FileField(
        required=False,
        label="Logo",
        help_text="PNG, JPEG or WebP; shown at the top of your storefront (scaled to fit 320×96).",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    logo_remove = forms.BooleanField(required=False, label="Remove the logo")

    def clean_logo(self) -> str | None:
        upload = self.cleaned_data.get("logo")
        if not upload:
            return None
        png = image_to_png(
            upload, box=(320, 96), max_bytes=LOGO_MAX_UPLOAD, label="logo image", kind="Logos"
        )
        if len(png) > 24_000:  # it rides along in the cached store row on every request
            raise ValidationError(
                "This logo is too detailed to show quickly; use a simpler or smaller image."
            )
        return "data:image/png;base64," + base64.b64encode(png).decode()


class DomainForm(forms.Form):
    domain = forms.CharField(
        max_length=253,
        label="Custom domain",
        widget=forms.TextInput(attrs={"placeholder": "shop.example.com"}),
    )


def _page(
    request: HttpRequest, form: StoreSettingsForm, domain_form: DomainForm, status: int = 200
) -> HttpResponse:
    store = request.tenant
    return render(
        request,
        "sellers/dashboard/settings.html",
        {
            "form": form,
            "domain_form": domain_form,
            "domains": Domain.objects.filter(tenant_id=store.pk, is_custom=True).order_by(
                "created_at"
            ),
            "dash_section": "settings",
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@store_owner_or_admin_view
def store_settings(request: HttpRequest) -> HttpResponse:
    store = request.tenant
    initial = {f: getattr(store, f) for f in SETTINGS_FIELDS}
    form = StoreSettingsForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            changes = {f: form.cleaned_data[f] for f in SETTINGS_FIELDS}
            if form.cleaned_data["logo_remove"]:
                changes["logo"] = ""
            elif form.cleaned_data["logo"]:
                changes["logo"] = form.cleaned_data["logo"]
            try:
                store_update_settings(store=store, **changes)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "Store settings saved.")
                return redirect("store_settings")
        return _page(request, form, DomainForm(), status=400)
    return _page(request, form, DomainForm())


@require_POST
@store_owner_required
def domain_create(request: HttpRequest) -> HttpResponse:
    store = request.tenant
    form = DomainForm(request.POST)
    if form.is_valid():
        try:
            domain = domain_add(store=store, hostname=form.cleaned_data["domain"])
        except ValidationError as exc:
            form.add_error("domain", exc)
        else:
            messages.success(
                request,
                f"Added {domain.domain}. Create the two DNS records below (the TXT record "
                f"proves the domain is yours), then verify.",
            )
            return redirect("store_settings")
    settings_form = StoreSettingsForm(initial={f: getattr(store, f) for f in SETTINGS_FIELDS})
    return _page(request, settings_form, form, status=400)


@require_POST
@store_owner_required
def domain_check(request: HttpRequest, pk: int) -> HttpResponse:
    domain = get_object_or_404(
        Domain.objects.select_related("tenant"), pk=pk, tenant_id=request.tenant.pk, is_custom=True
    )
    try:
        verified = domain_verify(domain=domain)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("store_settings")
    if verified:
        messages.success(request, f"{domain.domain} is verified: your store answers there now.")
    else:
        messages.warning(
            request,
            f"We did not find the TXT record {domain_txt_name(domain)} saying "
            f"“{domain.verification_token}” yet. DNS changes can take a while; try again later.",
        )
    return redirect("store_settings")


@require_POST
@store_owner_required
def domain_delete(request: HttpRequest, pk: int) -> HttpResponse:
    domain_remove(store=request.tenant, domain_id=pk)
    messages.success(request, "Domain removed.")
    return redirect("store_settings")
