"""Writes on products. Views, tasks, the demo seed and apps above call these; nothing else
writes a Product.

Files: every stored name is generated here ("products/<uuid>.pdf", "covers/<uuid>.png",
its sized copies "covers/<uuid>-<width>.webp") and saved through ``private_storage()``, which puts it under the active store's prefix.
An upload is validated from its temporary file before anything is saved; when a later step
fails, what was saved is deleted again, so a refused upload leaves nothing behind. PDFs
buyers may have paid for are never deleted: replacing a file keeps the earlier versions
(one ProductFile row each), and a product with sales cannot be deleted, only archived.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.text import slugify
from django_tenants.utils import schema_context

from .bundles import bundle_publish_problems
from .cover import render_cover
from .hooks import settlement_currency, version_given_to_past_buyers
from .images import image_to_png, png_to_webp_widths
from .models import FileSlot, Product, ProductFile, cover_sized_name
from .money import MoneyError, currency, parse_amount, validate_amount, validate_minimum
from .pdf import PdfInfo, PdfRejected, pdf_check_first_page, pdf_check_name, pdf_validate
from .rendering import clean_line, clean_text, download_name
from .storage import private_storage

if TYPE_CHECKING:
    from tenants.models import Store

logger = logging.getLogger(__name__)

TITLE_MAX = 140
DESCRIPTION_MAX = 20_000
DOWNLOAD_LIMIT_MAX = 1_000
SLOT_NAME_MAX = 80
FILES_MAX = 10  # PDFs per product
COVER_BOX = (1200, 1800)  # uploaded covers are scaled down to fit
COVER_RENDER_WIDTH = 600  # rendered covers: page 1 at this width, in pixels
# Sized WebP copies for srcset: a storefront card is ~250 CSS px wide on a desktop and
# ~170 on a phone (2 columns, up to 3 device pixels each), the product page's cover 380.
COVER_WIDTHS = (280, 560, 840)


# --- Validation ----------------------------------------------------------------------------


class _Errors:
    """Collects every field's problem so the seller sees them all at once."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.by_field.setdefault(field, []).append(message)

    def check(self, field: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (MoneyError, PdfRejected) as exc:
            self.add(field, str(exc))
        except ValidationError as exc:
            for message in exc.messages:
                self.add(field, message)
        return None

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


def _title(title: str) -> str:
    cleaned = clean_line(title)
    if not cleaned:
        raise ValidationError("Give the product a title.")
    if len(cleaned) > TITLE_MAX:
        raise ValidationError(f"Keep the title under {TITLE_MAX} characters ({len(cleaned)} now).")
    return cleaned


def _description(description: str) -> str:
    cleaned = clean_text(description)
    if len(cleaned) > DESCRIPTION_MAX:
        raise ValidationError(f"Keep the description under {DESCRIPTION_MAX:,} characters.")
    return cleaned


def _download_limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if not 1 <= limit <= DOWNLOAD_LIMIT_MAX:
        raise ValidationError(
            f"Downloads per purchase: between 1 and {DOWNLOAD_LIMIT_MAX:,}, "
            "or leave it empty for unlimited."
        )
    return limit


def _price(errors: _Errors, price_text: str, code: str) -> tuple[int | None, str | None]:
    cur = errors.check("currency", lambda: currency(code))
    if cur is None:
        return None, None
    price = errors.check("price", lambda: parse_amount(price_text, cur.code))
    if price is not None:  # Stripe's minimum for the currency the seller's account settles in
        price = errors.check(
            "price", lambda: validate_minimum(price, cur.code, settles_in=settlement_currency())
        )
    return price, cur.code


def _pdf(file: File) -> PdfInfo:
    try:
        pdf_check_name(getattr(file, "name", "") or "")
        return pdf_validate(file)
    except PdfRejected as exc:
        raise ValidationError(exc.message, code=exc.code) from exc


def _cover_png(file: File) -> bytes:
    """An uploaded cover, checked with Pillow and re-encoded as a PNG without metadata."""
    return image_to_png(file, box=COVER_BOX, max_bytes=settings.COVER_MAX_UPLOAD_BYTES)


# --- Storage -------------------------------------------------------------------------------


def _new_name(folder: str, extension: str) -> str:
    return f"{folder}/{uuid.uuid4()}.{extension}"


@contextmanager
def _saving() -> Iterator[list[str]]:
    """Names saved inside the block are deleted again if the block fails."""
    saved: list[str] = []
    try:
        yield saved
    except BaseException:
        _delete_files(saved)
        raise


def _save(saved: list[str], folder: str, extension: str, content: File | bytes) -> str:
    if isinstance(content, bytes):
        content = ContentFile(content)
    content.seek(0)
    name = private_storage().save(_new_name(folder, extension), content)
    saved.append(name)
    return name


def _delete_files(names: Iterable[str]) -> None:
    storage = private_storage()
    for name in names:
        if not name:
            continue
        try:
            storage.delete(name)
        except Exception:  # a leftover file is better than a failed request
            logger.exception("Could not delete %s", name)


def _delete_files_after_commit(names: Iterable[str]) -> None:
    names = [n for n in names if n]
    if not names:
        return
    # The callback may run after the connection moved on: pin this store's schema.
    schema = connection.schema_name
    transaction.on_commit(lambda: _in_schema(schema, _delete_files, names), robust=True)


def _in_schema(schema: str, fn: Callable[..., Any], *args: Any) -> Any:
    with schema_context(schema):
        return fn(*args)


def _queue_cover_render(product: Product) -> None:
    from .tasks import cover_render

    # The task runs in the schema active when it is queued (config.celery): pin this one.
    schema = connection.schema_name
    product_id = product.pk
    transaction.on_commit(lambda: _in_schema(schema, cover_render.delay, product_id), robust=True)


# --- Slugs ---------------------------------------------------------------------------------


def _unique_slug(title: str) -> str:
    """ "Ferns" → "ferns", then "ferns-2", "ferns-3"… Chosen once; never changes after."""
    base = slugify(title)[:150].strip("-") or "product"
    pattern = rf"^{re.escape(base)}(-[0-9]+)?$"
    taken = set(Product.objects.filter(slug__regex=pattern).values_list("slug", flat=True))
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _insert_with_slug(product: Product) -> Product:
    # Two products with one title created at once: the unique index decides, we retry.
    for _attempt in range(5):
        product.slug = _unique_slug(product.title)
        try:
            with transaction.atomic():
                product.save()
            return product
        except IntegrityError:
            if not Product.objects.filter(slug=product.slug).exists():
                raise
    raise ValidationError({"title": "Could not find a free web address for this title; retry."})


# --- Services ------------------------------------------------------------------------------


def product_create(
    *,
    title: str,
    description: str,
    price_text: str,
    currency: str,
    file: File | None,
    stamping: bool = False,
    download_limit: int | None = None,
    cover: File | None = None,
) -> Product:
    """A new draft product. The PDF may come later; publishing needs it."""
    errors = _Errors()
    title = errors.check("title", lambda: _title(title))
    description = errors.check("description", lambda: _description(description))
    price, code = _price(errors, price_text, currency)
    limit = errors.check("download_limit", lambda: _download_limit(download_limit))
    info = errors.check("file", lambda: _pdf(file)) if file else None
    cover_png = errors.check("cover", lambda: _cover_png(cover)) if cover else None
    errors.raise_if_any()

    with _saving() as saved, transaction.atomic():
        product = Product(
            title=title,
            description=description,
            price=price,
            currency=code,
            stamping=bool(stamping),
            download_limit=limit,
        )
        if cover_png is not None:
            product.cover = _save(saved, "covers", "png", cover_png)
            product.cover_state = Product.CoverState.READY
            product.cover_is_custom = True
        if file is not None:
            _attach_file(product, file=file, info=info, saved=saved)
        _insert_with_slug(product)
        if file is not None:
            _first_slot(product)
    if file is not None or cover_png is not None:
        _queue_cover_render(product)  # draws page 1 unless uploaded, then the sized copies
    return product


def _attach_file(product: Product, *, file: File, info: PdfInfo, saved: list[str]) -> None:
    product.file = _save(saved, "products", "pdf", file)
    fallback = product.slug or slugify(product.title) or "download"
    product.file_name = download_name(getattr(file, "name", "") or "", fallback=fallback)
    product.page_count = info.page_count
    product.file_size = info.size
    product.sha256 = info.sha256
    if not product.cover_is_custom:
        product.cover_state = Product.CoverState.PENDING


def _record_version(product: Product, slot: FileSlot | None = None) -> ProductFile:
    """The product's current file (its mirror fields) as a new version of `slot`."""
    version = ProductFile.objects.create(
        product=product,
        slot=slot,
        file=product.file.name,
        file_name=product.file_name,
        page_count=product.page_count,
        file_size=product.file_size,
        sha256=product.sha256,
    )
    if slot is not None:
        slot.current = version
        slot.save(update_fields=["current"])
    return version


def _first_slot(product: Product) -> FileSlot:
    """A product's first file, from the PDF just attached to it (create, duplicate)."""
    slot = FileSlot.objects.create(
        product=product,
        name=slot_name_from(product.file_name),
        position=0,
        download_limit=product.download_limit,
    )
    _record_version(product, slot)
    return slot


def slot_name_from(file_name: str) -> str:
    """A file's name for buyers from its download name: "Workbook.pdf" → "Workbook"."""
    stem = file_name[:-4] if file_name.lower().endswith(".pdf") else file_name
    return (clean_line(stem) or "PDF")[:SLOT_NAME_MAX]


def product_update(
    *,
    product: Product,
    title: str,
    description: str,
    price_text: str,
    currency: str,
    stamping: bool,
    download_limit: int | None,
    cover: File | None = None,
    cover_remove: bool = False,
) -> Product:
    """Edit what a product says and costs. The slug stays: links already shared keep working."""
    errors = _Errors()
    title = errors.check("title", lambda: _title(title))
    description = errors.check("description", lambda: _description(description))
    price, code = _price(errors, price_text, currency)
    limit = errors.check("download_limit", lambda: _download_limit(download_limit))
    cover_png = errors.check("cover", lambda: _cover_png(cover)) if cover else None
    errors.raise_if_any()

    old_cover: list[str] = []
    rerender = False
    with _saving() as saved, transaction.atomic():
        locked = Product.objects.select_for_update().get(pk=product.pk)
        locked.title = title
        locked.description = description
        locked.price = price
        locked.currency = code
        locked.stamping = bool(stamping)
        # Files that followed the product's limit follow its change; one the seller set
        # on its own keeps its limit.
        following = FileSlot.objects.filter(product=locked)
        if locked.download_limit is None:
            following = following.filter(download_limit__isnull=True)
        else:
            following = following.filter(download_limit=locked.download_limit)
        following.update(download_limit=limit)
        locked.download_limit = limit
        if cover_png is not None:
            old_cover = locked.cover_files
            locked.cover = _save(saved, "covers", "png", cover_png)
            locked.cover_widths = []
            locked.cover_state = Product.CoverState.READY
            locked.cover_is_custom = True
            rerender = True  # makes the sized copies of the new cover
        elif cover_remove and locked.cover_is_custom:
            old_cover = locked.cover_files
            locked.cover = ""
            locked.cover_widths = []
            locked.cover_is_custom = False
            locked.cover_state = (
                Product.CoverState.PENDING if locked.file else Product.CoverState.NONE
            )
            rerender = bool(locked.file)
        locked.save()
        _delete_files_after_commit(old_cover)
    if rerender:
        _queue_cover_render(locked)
    return locked


def product_replace_file(*, product: Product, file: File) -> Product:
    """A new version of the product's first file (or its first file, when it has none)."""
    slot = product.slots.first()
    if slot is None:
        product_file_add(product=product, file=file)
    else:
        product_file_replace(product=product, slot=slot, file=file)
    return Product.objects.get(pk=product.pk)


def _validated(file: File) -> PdfInfo:
    try:
        return _pdf(file)
    except ValidationError as exc:
        raise ValidationError({"file": exc.messages}) from exc


def _mirror_first_file(product: Product) -> bool:
    """Product.file and its fields are the first file's current version (the cover is
    drawn from it, the storefront shows its page count, publishing needs one). Called
    with the product row locked; says whether the first file's PDF changed."""
    first = (
        FileSlot.objects.filter(product=product, current__isnull=False)
        .select_related("current")
        .order_by("position", "id")
        .first()
    )
    version = first.current if first is not None else None
    name = version.file.name if version is not None else ""
    if product.file.name == name:
        return False
    product.file = name
    product.file_name = version.file_name if version else ""
    product.page_count = version.page_count if version else 0
    product.file_size = version.file_size if version else 0
    product.sha256 = version.sha256 if version else ""
    if not product.cover_is_custom:
        product.cover_state = Product.CoverState.PENDING if name else Product.CoverState.NONE
    return True


def _slot_name(name: str) -> str:
    cleaned = clean_line(name)
    if not cleaned:
        raise ValidationError({"name": "Give the file a name buyers will see, e.g. “Answers”."})
    if len(cleaned) > SLOT_NAME_MAX:
        raise ValidationError({"name": f"Keep the name under {SLOT_NAME_MAX} characters."})
    return cleaned


def _new_version(
    locked: Product, slot: FileSlot, *, file: File, info: PdfInfo, saved: list[str]
) -> ProductFile:
    stored = _save(saved, "products", "pdf", file)
    fallback = locked.slug or slugify(locked.title) or "download"
    version = ProductFile.objects.create(
        product=locked,
        slot=slot,
        file=stored,
        file_name=download_name(getattr(file, "name", "") or "", fallback=fallback),
        page_count=info.page_count,
        file_size=info.size,
        sha256=info.sha256,
    )
    slot.current = version
    slot.save(update_fields=["current"])
    return version


def _after_files_changed(locked: Product) -> None:
    changed = _mirror_first_file(locked)
    locked.save()  # also tells the page cache: the product page lists the files
    if changed and not locked.cover_is_custom:
        _queue_cover_render(locked)


def product_file_add(
    *, product: Product, file: File, name: str = "", download_limit: int | None = None
) -> FileSlot:
    """Another PDF for the product (a workbook's answers, the Letter edition), last in
    the list, with its own name, link and limit (the product's, unless given). Buyers
    from now on get it; earlier buyers keep what they bought."""
    info = _validated(file)
    name = _slot_name(name) if name.strip() else slot_name_from(getattr(file, "name", "") or "")
    with _saving() as saved, transaction.atomic():
        locked = Product.objects.select_for_update().get(pk=product.pk)
        slots = list(FileSlot.objects.filter(product=locked))
        if len(slots) >= FILES_MAX:
            raise ValidationError({"file": f"A product can have up to {FILES_MAX} files."})
        limit = locked.download_limit if download_limit is None else download_limit
        slot = FileSlot.objects.create(
            product=locked,
            name=name,
            position=max((s.position for s in slots), default=-1) + 1,
            download_limit=_download_limit(limit),
        )
        _new_version(locked, slot, file=file, info=info, saved=saved)
        _after_files_changed(locked)
    return slot


def product_file_replace(
    *, product: Product, slot: FileSlot, file: File, give_to_past_buyers: bool = False
) -> ProductFile:
    """A new version of one of the product's files. Earlier versions stay stored.

    New buyers get it. Past buyers keep the version they paid for, unless the seller
    gives it to them: then payments moves their grants to it and emails each once
    (catalog.hooks.version_given_to_past_buyers, after the commit)."""
    info = _validated(file)
    with _saving() as saved, transaction.atomic():
        locked = Product.objects.select_for_update().get(pk=product.pk)
        slot = FileSlot.objects.select_related("current").get(pk=slot.pk, product=locked)
        if slot.current is not None and slot.current.sha256 == info.sha256:
            raise ValidationError({"file": "This is the same PDF as the current version."})
        version = _new_version(locked, slot, file=file, info=info, saved=saved)
        if give_to_past_buyers:
            version.given_to_past_buyers = True
            version.save(update_fields=["given_to_past_buyers"])
            version_given_to_past_buyers(version.pk)
        _after_files_changed(locked)
    return version


def _versions_delete(versions) -> None:
    """Versions before their file slots: the two point at each other (slot.current, and
    the nullable version.slot), so Django's collector gives their deletes no order, and a
    constraint checked immediately (a schema built in the same transaction) would fail.
    Raises ProtectedError while a buyer's grant holds one."""
    FileSlot.objects.filter(current__in=versions).update(current=None)
    versions.delete()


def product_file_update(
    *, product: Product, slot: FileSlot, name: str, download_limit: int | None
) -> FileSlot:
    """Rename a file or change its limit (for purchases made from now on)."""
    errors = _Errors()
    name = errors.check("name", lambda: _slot_name(name))
    limit = errors.check("download_limit", lambda: _download_limit(download_limit))
    errors.raise_if_any()
    with transaction.atomic():
        locked = Product.objects.select_for_update().get(pk=product.pk)
        FileSlot.objects.filter(pk=slot.pk, product=locked).update(name=name, download_limit=limit)
        locked.save(update_fields=["updated_at"])  # the product page shows the names
    slot.refresh_from_db()
    return slot


def product_file_move(*, product: Product, slot: FileSlot, offset: int) -> list[FileSlot]:
    """Move a file up (-1) or down (+1) in the list buyers see."""
    with transaction.atomic():
        locked = Product.objects.select_for_update().get(pk=product.pk)
        slots = list(FileSlot.objects.filter(product=locked).order_by("position", "id"))
        index = next((i for i, s in enumerate(slots) if s.pk == slot.pk), None)
        if index is None:
            raise ValidationError("This file is not one of the product's.")
        target = index + offset
        if 0 <= target < len(slots):
            slots.insert(target, slots.pop(index))
        for position, each in enumerate(slots):
            if each.position != position:
                each.position = position
                each.save(update_fields=["position"])
        _after_files_changed(locked)
    return slots


def product_file_remove(*, product: Product, slot: FileSlot) -> None:
    """Remove a file nobody bought yet, with its versions. One that sold stays: its
    buyers keep it (payments' grants hold it with a PROTECT key)."""
    with transaction.atomic():
        locked = Product.objects.select_for_update().get(pk=product.pk)
        slot = FileSlot.objects.get(pk=slot.pk, product=locked)
        names = list(slot.versions.values_list("file", flat=True))
        try:
            _versions_delete(slot.versions.all())
            slot.delete()
        except ProtectedError:
            raise ValidationError("Buyers have this file, so it cannot be removed.") from None
        _after_files_changed(locked)
        # The mirror may still have named a removed version: it no longer does.
        _delete_files_after_commit(n for n in names if n != locked.file.name)


def product_publish(*, product: Product, store: Store) -> Product:
    """Put a product on sale. Says everything that stands in the way, all at once."""
    with transaction.atomic():
        locked = Product.objects.select_for_update().get(pk=product.pk)
        from tenants.models import Store

        problems = []
        if not Store.objects.filter(pk=store.pk, status=Store.Status.ACTIVE).exists():
            raise ValidationError(
                "This store is suspended, so nothing can be put on sale. "
                + (
                    f"The platform says: “{store.suspended_reason}” "
                    if store.suspended_reason
                    else ""
                )
                + "Contact the platform to have it restored.",
                code="store_suspended",
            )
        if locked.is_bundle:
            problems.extend(bundle_publish_problems(locked))
        elif not locked.file:
            problems.append("Upload the PDF buyers will get.")
        try:
            validate_amount(locked.price, locked.currency)
            validate_minimum(locked.price, locked.currency, settles_in=settlement_currency())
        except MoneyError as exc:
            problems.append(f"Fix the price: {exc}")
        if not store.can_take_charges:
            reason = f" ({store.charges_blocked_reason})" if store.charges_blocked_reason else ""
            problems.append(
                "Connect a Stripe account that can take payments (Dashboard → Payments)"
                + reason
                + "."
            )
        if problems:
            raise ValidationError(problems, code="cannot_publish")
        if locked.status != Product.Status.PUBLISHED:
            locked.status = Product.Status.PUBLISHED
            locked.published_at = locked.published_at or timezone.now()
            locked.save(update_fields=["status", "published_at", "updated_at"])
    return locked


def _set_status(product: Product, status: str) -> Product:
    with transaction.atomic():
        locked = Product.objects.select_for_update().get(pk=product.pk)
        if locked.status != status:
            locked.status = status
            locked.save(update_fields=["status", "updated_at"])
    return locked


def product_unpublish(*, product: Product) -> Product:
    """Back to draft (from published or archived): off the storefront, buyers keep access."""
    return _set_status(product, Product.Status.DRAFT)


def product_archive(*, product: Product) -> Product:
    """Retire a product: off the storefront and the main list; buyers keep their downloads."""
    return _set_status(product, Product.Status.ARCHIVED)


def product_delete(*, product: Product, has_sales: bool) -> None:
    """Delete a product that never sold, with its files. One with sales can only be archived.

    `has_sales` comes from the caller (payments sits above catalog); the PROTECT foreign
    key from purchases is the backstop if it is wrong.
    """
    if has_sales:
        raise ValidationError(
            "This product has sales, so it cannot be deleted: buyers keep their downloads. "
            "Archive it instead."
        )
    with transaction.atomic():
        locked = Product.objects.select_for_update().get(pk=product.pk)
        names = {locked.file.name, *locked.cover_files}
        names.update(locked.versions.values_list("file", flat=True))
        try:
            _versions_delete(ProductFile.objects.filter(product=locked))
            locked.delete()
        except ProtectedError:
            raise ValidationError(
                "This product has sales, so it cannot be deleted. Archive it instead."
            ) from None
        _delete_files_after_commit(sorted(names))


def product_duplicate(*, product: Product) -> Product:
    """A draft copy with its own copies of the files (deleting one never touches the other)."""
    storage = private_storage()
    title = f"{product.title} (copy)"
    if len(title) > TITLE_MAX:
        title = product.title[: TITLE_MAX - 7].rstrip() + " (copy)"
    with _saving() as saved, transaction.atomic():
        copy = Product(
            title=title,
            description=product.description,
            price=product.price,
            currency=product.currency,
            stamping=product.stamping,
            download_limit=product.download_limit,
            file_name=product.file_name,
            page_count=product.page_count,
            file_size=product.file_size,
            sha256=product.sha256,
            cover_is_custom=product.cover_is_custom,
        )
        if product.cover and product.cover_state == Product.CoverState.READY:
            with storage.open(product.cover.name, "rb") as source:
                copy.cover = _save(saved, "covers", "png", File(source))
            copy.cover_state = Product.CoverState.READY  # sized copies: by the cover task
        elif product.file:
            copy.cover_state = Product.CoverState.PENDING
            copy.cover_is_custom = False
        _insert_with_slug(copy)
        for slot in product.slots.select_related("current").filter(current__isnull=False):
            with storage.open(slot.current.file.name, "rb") as source:
                stored = _save(saved, "products", "pdf", File(source))
            new_slot = FileSlot.objects.create(
                product=copy,
                name=slot.name,
                position=slot.position,
                download_limit=slot.download_limit,
            )
            version = ProductFile.objects.create(
                product=copy,
                slot=new_slot,
                file=stored,
                file_name=slot.current.file_name,
                page_count=slot.current.page_count,
                file_size=slot.current.file_size,
                sha256=slot.current.sha256,
            )
            new_slot.current = version
            new_slot.save(update_fields=["current"])
        if _mirror_first_file(copy):
            copy.save()
    if copy.cover_state in (Product.CoverState.PENDING, Product.CoverState.READY):
        _queue_cover_render(copy)
    return copy


def product_cover_render(*, product_id: int) -> Product | None:
    """Render page 1 of the current PDF as the cover (Celery task `cover_render`).

    Runs after the upload's transaction; if the PDF changed or the seller uploaded a
    cover meanwhile, the result is thrown away. A PDF pdfium cannot draw marks the cover
    as failed (the storefront keeps the placeholder); it never fails the upload.
    """
    product = Product.objects.filter(pk=product_id).first()
    if product is None or product.cover_is_custom or not product.file:
        return product
    source = product.file.name
    try:
        png = _render_first_page(source)
    except Exception:
        logger.warning("Cover rendering failed for product %s", product_id, exc_info=True)
        png = None
    with _saving() as saved, transaction.atomic():
        locked = Product.objects.select_for_update().get(pk=product_id)
        if locked.cover_is_custom or locked.file.name != source:
            return locked  # superseded while we were drawing
        old = locked.cover_files
        if png is None:
            locked.cover = ""
            locked.cover_state = Product.CoverState.FAILED
        else:
            locked.cover = _save(saved, "covers", "png", png)
            locked.cover_state = Product.CoverState.READY
        locked.cover_widths = []
        locked.save(update_fields=["cover", "cover_state", "cover_widths", "updated_at"])
        _delete_files_after_commit(old)
    return locked


def product_cover_sizes_make(*, product_id: int) -> Product | None:
    """Sized WebP copies of the current cover, for `srcset` (the cover task, after drawing).

    Stored beside the PNG under the store's prefix ("covers/<uuid>-<width>.webp"). The row
    stays locked while they are made (a few hundred milliseconds), so a cover replaced
    meanwhile waits, and two runs never write the same names. Idempotent: a cover that has
    its copies is left alone. A failure leaves the PNG alone, the page just uses it.
    """
    storage = private_storage()
    with _saving() as saved, transaction.atomic():
        locked = Product.objects.select_for_update().filter(pk=product_id).first()
        if (
            locked is None
            or locked.cover_state != Product.CoverState.READY
            or not locked.cover
            or locked.cover_widths
        ):
            return locked
        try:
            with storage.open(locked.cover.name, "rb") as source:
                copies = png_to_webp_widths(source.read(), widths=COVER_WIDTHS)
        except Exception:
            logger.warning("Sized covers failed for product %s", product_id, exc_info=True)
            return locked
        for width, data in copies.items():
            name = cover_sized_name(locked.cover.name, width)
            if storage.exists(name):  # left by a run that died before it committed
                storage.delete(name)
            stored = storage.save(name, ContentFile(data))
            saved.append(stored)
            if stored != name:
                raise RuntimeError(f"sized cover stored as {stored!r}, not {name!r}")
        locked.cover_widths = sorted(copies)
        locked.save(update_fields=["cover_widths", "updated_at"])
    return locked


def _render_first_page(name: str) -> bytes:
    # pdfium reads from a path lazily; copy the (possibly remote) file to a temporary one.
    with (
        private_storage().open(name, "rb") as source,
        tempfile.NamedTemporaryFile(suffix=".pdf") as local,
    ):
        shutil.copyfileobj(source, local, length=1024 * 1024)
        local.flush()
        # Only a file that passes today's checks reaches pdfium (one stored before a check
        # was added does not), page 1 under its own budget, then pdfium in a child process
        # with its own memory and CPU limits (catalog.cover).
        pdf_validate(local)
        pdf_check_first_page(local)
        return render_cover(
            local.name,
            width=COVER_RENDER_WIDTH,
            max_height=COVER_RENDER_WIDTH * 3,
            memory_bytes=settings.COVER_RENDER_MEMORY_BYTES,
        )
