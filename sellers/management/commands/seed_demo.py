"""A demo to click through: a platform admin, a seller, and store `demo` with real PDFs.

Idempotent: `make run` calls it every start; it only adds what is missing.
"""

from __future__ import annotations

import json
import urllib.request

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from catalog.models import Product
from catalog.samples import sample_pdf_bytes
from catalog.services import product_create, product_publish
from payments import services as payments
from payments import stripe_client
from payments.platform.services import connected_account_for
from sellers.models import User
from tenants.models import Store
from tenants.origins import platform_origin
from tenants.services import store_create, store_update_settings

ADMIN = ("admin@example.com", "demo-admin-password")
SELLER = ("demo@example.com", "demo-seller-password")
PRODUCTS = [
    (
        "The Sourdough Handbook",
        "From starter to crust, in 24 illustrated pages.",
        "12.00",
        24,
        "A practical, no-nonsense guide to **sourdough**:\n\n- keeping a starter alive\n- timing a bake around your day\n- fixing dense crumb",
    ),
    (
        "Weekend Watercolour",
        "Twelve small paintings, step by step.",
        "9.50",
        16,
        "Learn loose, bright watercolour in two weekends. Each exercise fits on a postcard.",
    ),
    (
        "Budget Travel Planner",
        "Printable worksheets for a month on the road.",
        "5.00",
        8,
        "Plan routes, costs and packing with *printable* worksheets.",
    ),
]


def _user(email: str, password: str, **extra) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email, password, **extra)
    EmailAddress.objects.get_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user


class Command(BaseCommand):
    help = "Create (or complete) the demo: admin, seller, store `demo` with published PDFs."

    def handle(self, *args, **options):
        _user(*ADMIN, is_staff=True, is_superuser=True)
        seller = _user(*SELLER)
        store = Store.objects.filter(subdomain="demo").first()
        if store is None:
            store = store_create(owner=seller, name="Demo Books", subdomain="demo")
            store_update_settings(
                store=store,
                description="Practical little guides for bakers, painters and travellers. Instant PDF download.",
                support_email="help@demo-books.example",
            )
        connected = self._connect(store)
        store.refresh_from_db()
        with schema_context(store.schema_name):
            if not Product.objects.exists():
                for title, subtitle, price, pages, description in PRODUCTS:
                    pdf = sample_pdf_bytes(title=title, subtitle=subtitle, pages=pages)
                    product_create(
                        title=title,
                        description=description,
                        price_text=price,
                        currency="usd",
                        file=ContentFile(pdf, name=f"{title}.pdf"),
                    )
            if store.can_take_charges:
                for product in Product.objects.filter(status=Product.Status.DRAFT):
                    product_publish(product=product, store=store)
        self.stdout.write(self.style.SUCCESS("Demo ready:"))
        self.stdout.write(
            f"  platform admin  {ADMIN[0]} / {ADMIN[1]}   {platform_origin()}/console/"
        )
        self.stdout.write(f"  seller          {SELLER[0]} / {SELLER[1]}   {store.url}/dashboard/")
        self.stdout.write(f"  storefront      {store.url}/")
        if not connected:
            self.stdout.write(
                "  Stripe: connect the demo store from its dashboard (real Stripe keys are set)."
            )

    def _connect(self, store: Store) -> bool:
        """With the stand-in, connect the demo store and complete onboarding at once."""
        if not settings.STRIPE_STANDIN:
            return False
        row = connected_account_for(store)
        try:
            if row is None:
                row = payments.connect_account_claim(store=store, email=SELLER[0], country="US")
            if not row.charges_enabled:
                request = urllib.request.Request(
                    f"{settings.STRIPE_API_BASE}/_standin/accounts/{row.stripe_account_id}/complete",
                    data=json.dumps({}).encode(),
                    method="POST",
                    headers={"Content-Type": "application/json"},
                )
                urllib.request.urlopen(request, timeout=5).read()
                payments.connect_refresh(store=store)
        except (stripe_client.StripeFailure, OSError) as exc:
            self.stderr.write(
                f"Could not connect the demo store through the Stripe stand-in: {exc}"
            )
            return False
        return True
