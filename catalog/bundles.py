"""Bundles (issue #12): a product of the store made of other products of the store, at its
own price. Buying it grants every file of every included product, each with its own link,
count and limit (payments.services.grant_files).

One level only: a bundle includes products, never another bundle, never itself, and a
product inside a bundle cannot become one. Products are picked by uid and looked up in
this store's schema, so another store's product (or a made-up id) is simply not found:
the whole choice is refused with a message, nothing is saved. All included products are
priced in the bundle's currency, so the saving against buying them one by one is a plain
difference.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from tenants import cells

from .models import FileSlot, Product
from .money import format_amount

BUNDLE_MIN_ITEMS = 2
BUNDLE_MAX_ITEMS = 50


@dataclass(frozen=True)
class BundleOffer:
    """What a bundle page says: the products, their total one by one, and the saving."""

    items: list[Product]
    separately: int
    currency: str
    price: int

    @property
    def saving(self) -> int:
        return max(0, self.separately - self.price)

    @property
    def separately_display(self) -> str:
        return format_amount(self.separately, self.currency)

    @property
    def saving_display(self) -> str:
        return format_amount(self.saving, self.currency)

    @property
    def saving_percent(self) -> int:
        return (self.saving * 100) // self.separately if self.separately else 0


def _uids(raw: Iterable[str]) -> list[uuid.UUID]:
    parsed: list[uuid.UUID] = []
    for value in raw:
        try:
            parsed.append(uuid.UUID(str(value).strip()))
        except ValueError:
            raise ValidationError(
                "One of the chosen products is not a product of this store. Nothing was saved."
            ) from None
    return list(dict.fromkeys(parsed))


def bundle_items_check(*, bundle: Product, item_uids: Iterable[str]) -> list[Product]:
    """The products a bundle may include, in the order chosen, or a ValidationError that
    says what is wrong (nothing is saved then)."""
    uids = _uids(item_uids)
    if len(uids) < BUNDLE_MIN_ITEMS:
        raise ValidationError(f"Choose at least {BUNDLE_MIN_ITEMS} products for the bundle.")
    if len(uids) > BUNDLE_MAX_ITEMS:
        raise ValidationError(f"A bundle can include at most {BUNDLE_MAX_ITEMS} products.")
    found = {p.uid: p for p in Product.objects.filter(uid__in=uids)}
    if len(found) != len(uids):
        # Another store's product lives in another schema: it is not found here.
        raise ValidationError(
            "One of the chosen products is not a product of this store. Nothing was saved."
        )
    items = [found[u] for u in uids]
    for item in items:
        if bundle.pk and item.pk == bundle.pk:
            raise ValidationError("A bundle cannot include itself.")
        if item.is_bundle:
            raise ValidationError(
                f"“{item.title}” is a bundle itself: a bundle includes products, not bundles."
            )
        if item.is_archived:
            raise ValidationError(f"“{item.title}” is archived: it cannot go in a bundle.")
        if item.currency != bundle.currency:
            raise ValidationError(
                f"“{item.title}” is priced in {item.currency.upper()}: every product of this "
                f"bundle must be priced in {bundle.currency.upper()}, like the bundle."
            )
    if not FileSlot.objects.filter(product__in=items, current__isnull=False).exists():
        raise ValidationError("None of the chosen products has a PDF yet.")
    return items


def bundle_items_set(*, bundle: Product, item_uids: Iterable[str]) -> Product:
    """Make `bundle` a bundle of these products (replacing its earlier choice).

    A product with PDFs of its own, or one already included in a bundle, cannot be one.
    """
    with cells.atomic():
        locked = Product.objects.select_for_update().get(pk=bundle.pk)
        if not locked.is_bundle and (
            locked.file or FileSlot.objects.filter(product=locked, current__isnull=False).exists()
        ):
            raise ValidationError(
                "This product has its own PDF: a bundle has none (its buyers get the "
                "included products' files). Create a new product for the bundle."
            )
        if locked.bundles.exists():
            raise ValidationError(
                "This product is included in a bundle, so it cannot be a bundle itself."
            )
        items = bundle_items_check(bundle=locked, item_uids=item_uids)
        locked.bundle_items.set(items)
        locked.is_bundle = True
        # Saved after the items: the save tells the page cache the store's pages changed.
        locked.save(update_fields=["is_bundle", "updated_at"])
    return locked


def bundle_candidates(*, bundle: Product | None, currency: str) -> list[Product]:
    """The products a seller may pick for a bundle: this store's, not bundles, not
    archived, not the bundle itself, priced in the bundle's currency."""
    qs = (
        Product.objects.visible_in_dashboard()
        .filter(is_bundle=False, currency=currency)
        .only("uid", "title", "price", "currency", "status")
        .order_by("title")
    )
    if bundle is not None and bundle.pk:
        qs = qs.exclude(pk=bundle.pk)
    return list(qs)


def bundle_create(
    *, title: str, description: str, price_text: str, currency: str, item_uids: Iterable[str]
) -> Product:
    """A new draft bundle of these products, or nothing at all (a ValidationError)."""
    from .services import product_create

    item_uids = list(item_uids)
    with cells.atomic():
        product = product_create(
            title=title,
            description=description,
            price_text=price_text,
            currency=currency,
            file=None,
        )
        return bundle_items_set(bundle=product, item_uids=item_uids)


def bundle_publish_problems(bundle: Product) -> list[str]:
    """What stands in the way of selling a bundle (product_publish says it with the rest)."""
    items = list(bundle.bundle_items.all())
    problems = []
    if len(items) < BUNDLE_MIN_ITEMS:
        problems.append(f"Choose at least {BUNDLE_MIN_ITEMS} products for the bundle.")
    if not FileSlot.objects.filter(product__in=items, current__isnull=False).exists():
        problems.append("Give the bundle's products their PDFs.")
    return problems


def bundle_offer(bundle: Product, items: list[Product] | None = None) -> BundleOffer | None:
    """The bundle's products and saving (None for a product that is not a bundle).
    Uses `prefetch_related("bundle_items")` when the caller made it."""
    if not bundle.is_bundle:
        return None
    if items is None:
        items = sorted(bundle.bundle_items.all(), key=lambda p: p.title.lower())
    return BundleOffer(
        items=items,
        separately=sum(p.price for p in items),
        currency=bundle.currency,
        price=bundle.price,
    )


def bundle_slots(bundle: Product) -> list[FileSlot]:
    """Every file a bundle's buyer gets: each included product's files, in the product's
    order, products by title."""
    return list(
        FileSlot.objects.filter(product__in=bundle.bundle_items.all(), current__isnull=False)
        .select_related("product")
        .order_by("product__title", "product_id", "position", "id")
    )
