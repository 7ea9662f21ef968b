"""Data builders for tests: real services, real storage, only the inputs are made up."""

from __future__ import annotations

import uuid

from django.core.files.base import ContentFile
from django_tenants.utils import schema_context

from catalog.models import FileSlot, Product, ProductFile
from catalog.samples import sample_pdf_bytes
from catalog.storage import private_storage
from payments.models import CheckoutRecord
from payments.services import purchase_fulfil
from payments.stripe_client import CheckoutSession
from tenants.models import Store

_PDF_CACHE: dict[int, bytes] = {}


def pdf_bytes(pages: int = 3) -> bytes:
    if pages not in _PDF_CACHE:
        _PDF_CACHE[pages] = sample_pdf_bytes(
            title="Field Guide", subtitle="A test PDF", pages=pages
        )
    return _PDF_CACHE[pages]


def product_with_file(
    store: Store,
    *,
    title: str = "Field Guide",
    price: int = 1200,
    currency: str = "usd",
    status: str = "published",
    stamping: bool = False,
    download_limit: int | None = None,
    data: bytes | None = None,
) -> Product:
    import hashlib

    data = data if data is not None else pdf_bytes()
    with schema_context(store.schema_name):
        name = private_storage().save(f"products/{uuid.uuid4()}.pdf", ContentFile(data))
        slug = f"{title.lower().replace(' ', '-')}-{uuid.uuid4().hex[:6]}"
        product = Product.objects.create(
            title=title,
            slug=slug,
            price=price,
            currency=currency,
            status=status,
            file=name,
            file_name=f"{title}.pdf",
            page_count=3,
            file_size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            stamping=stamping,
            download_limit=download_limit,
        )
        # Its first file, as catalog.services.product_create makes it.
        slot = FileSlot.objects.create(
            product=product, name=title, position=0, download_limit=download_limit
        )
        slot.current = ProductFile.objects.create(
            product=product,
            slot=slot,
            file=name,
            file_name=product.file_name,
            page_count=3,
            file_size=len(data),
            sha256=product.sha256,
        )
        slot.save(update_fields=["current"])
        return product


def add_file(
    store: Store,
    product: Product,
    *,
    name: str = "Answers",
    data: bytes | None = None,
    download_limit: int | None = None,
    raw: bool = False,
) -> FileSlot:
    """Another file of a product, through the service the dashboard calls (`raw`: stored
    as it is, unchecked, as product_with_file stores the first: bytes a test can spot)."""
    import hashlib

    from catalog.services import product_file_add

    data = data if data is not None else pdf_bytes(2)
    with schema_context(store.schema_name):
        if raw:
            stored = private_storage().save(f"products/{uuid.uuid4()}.pdf", ContentFile(data))
            slot = FileSlot.objects.create(
                product=product,
                name=name,
                position=product.slots.count(),
                download_limit=download_limit,
            )
            slot.current = ProductFile.objects.create(
                product=product,
                slot=slot,
                file=stored,
                file_name=f"{name}.pdf",
                page_count=2,
                file_size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
            slot.save(update_fields=["current"])
            return slot
        return product_file_add(
            product=product,
            file=ContentFile(data, name=f"{name}.pdf"),
            name=name,
            download_limit=download_limit,
        )


def paid_session(
    store: Store,
    product: Product,
    *,
    email: str = "bob@example.com",
    fee: int = 90,
    session_id: str | None = None,
    payment_intent: str | None = None,
    recorded: bool = True,
) -> CheckoutSession:
    """A paid session as Stripe would report it; `recorded` writes the platform's record of
    it first, as `checkout_start` does before redirecting the buyer."""
    session = CheckoutSession(
        id=session_id or f"cs_test_{uuid.uuid4().hex}",
        url="",
        status="complete",
        payment_status="paid",
        amount_total=product.price,
        currency=product.currency,
        customer_email=email,
        payment_intent_id=payment_intent or f"pi_{uuid.uuid4().hex[:24]}",
        metadata={
            "store": store.schema_name,
            "product": str(product.uid),
            "fee": str(fee),
            "fee_percent": "5.00",
            "fee_fixed": "30",
        },
        application_fee_amount=fee,
        charge_id=f"ch_{uuid.uuid4().hex[:24]}",
    )
    if recorded:
        with schema_context(store.schema_name):
            CheckoutRecord.objects.get_or_create(
                session_id=session.id,
                defaults={
                    "product": product,
                    "amount": product.price,
                    "currency": product.currency,
                    "fee": fee,
                    "fee_percent": "5.00",
                    "fee_fixed": 30,
                },
            )
    return session


def purchase(store: Store, product: Product, **kwargs):
    with schema_context(store.schema_name):
        made, _ = purchase_fulfil(store=store, session=paid_session(store, product, **kwargs))
        return made


def in_schema(store: Store):
    return schema_context(store.schema_name)
