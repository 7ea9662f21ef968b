from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Upper
from django.urls import reverse

from .money import CURRENCY_CHOICES, format_amount, to_decimal_string
from .rendering import markdown_html, summary_text

# What a storefront card needs; the description (up to 20 kB each) stays in the database.
_CARD_FIELDS = (
    "uid",
    "title",
    "slug",
    "price",
    "currency",
    "pay_what_you_want",
    "status",
    "cover",
    "cover_state",
    "cover_widths",
    "published_at",
    "created_at",
    "is_bundle",
)


def cover_sized_name(cover: str, width: int) -> str:
    """The stored name of a cover's WebP copy: "covers/<uuid>.png" → "covers/<uuid>-480.webp"."""
    return f"{cover.removesuffix('.png')}-{width}.webp"


def preview_image_name(preview: str, position: int) -> str:
    """The stored name of a preview's page image: "previews/<uuid>.pdf" → "previews/<uuid>-1.webp"
    (position 1 is the first chosen page)."""
    return f"{preview.removesuffix('.pdf')}-{position}.webp"


class ProductQuerySet(models.QuerySet):
    def published(self) -> ProductQuerySet:
        return self.filter(status=Product.Status.PUBLISHED)

    def visible_in_dashboard(self) -> ProductQuerySet:
        return self.exclude(status=Product.Status.ARCHIVED)

    def archived(self) -> ProductQuerySet:
        return self.filter(status=Product.Status.ARCHIVED)

    def for_storefront(self) -> ProductQuerySet:
        """Published products as cards, newest first: one query whatever the count."""
        return self.published().only(*_CARD_FIELDS).order_by("-published_at", "-created_at")


class Product(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    class CoverState(models.TextChoices):
        NONE = "none", "None"
        PENDING = "pending", "Being rendered"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class PreviewState(models.TextChoices):
        NONE = "none", "None"
        PENDING = "pending", "Being built"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    # Public id used in dashboard URLs (never the sequential pk).
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(max_length=140)
    slug = models.SlugField(max_length=160, unique=True)
    description = models.TextField(blank=True, max_length=20_000)
    price = models.PositiveIntegerField(help_text="Minor units (cents).")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="usd")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # Pay what you want (catalog.pwyw): the buyer types the amount. `price` is then the
    # minimum (0: free, paying optional) and `suggested_price` fills the amount field.
    pay_what_you_want = models.BooleanField(default=False)
    suggested_price = models.PositiveIntegerField(null=True, blank=True, help_text="Minor units.")

    # The file buyers get: keyed under the store's prefix by catalog.storage.
    file = models.FileField(max_length=300, blank=True)
    file_name = models.CharField(max_length=200, blank=True, help_text="Name buyers download.")
    page_count = models.PositiveIntegerField(default=0)
    file_size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)

    # "covers/<uuid>.png": a new cover gets a new name, so its URL can be cached for good.
    cover = models.FileField(max_length=300, blank=True, db_index=True)
    cover_state = models.CharField(
        max_length=16, choices=CoverState.choices, default=CoverState.NONE
    )
    # Uploaded by the seller (kept when the PDF changes) or rendered from page 1.
    cover_is_custom = models.BooleanField(default=False)
    # Widths of the WebP copies made from the cover ("covers/<uuid>-<width>.webp"), smallest
    # first; empty until the cover task made them (pages then fall back to the PNG alone).
    cover_widths = ArrayField(models.PositiveSmallIntegerField(), default=list, blank=True)

    # A free preview: up to 3 pages the seller chose (1-based, in the order shown), built by
    # the preview task into "previews/<uuid>.pdf" (those pages only, marked "Preview") and
    # one WebP image per page ("previews/<uuid>-<position>.webp"). Rebuilt under a new name
    # when the pages or the PDF change; shown only while READY.
    preview_pages = ArrayField(models.PositiveSmallIntegerField(), default=list, blank=True)
    preview = models.FileField(max_length=300, blank=True, db_index=True)
    preview_state = models.CharField(
        max_length=16, choices=PreviewState.choices, default=PreviewState.NONE
    )

    stamping = models.BooleanField(default=False, help_text="Stamp the buyer's email on page 1.")
    download_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Downloads per purchase; empty for unlimited."
    )

    # A bundle (catalog.bundles) has no file of its own: its buyers get every file of the
    # products it includes, which are products of this store and never bundles.
    is_bundle = models.BooleanField(default=False)
    bundle_items = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="bundles"
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"])]
        constraints = [
            # Only a pay-what-you-want product may cost nothing (a minimum of 0).
            models.CheckConstraint(
                condition=models.Q(price__gt=0) | models.Q(pay_what_you_want=True),
                name="product_price_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("catalog:product", kwargs={"slug": self.slug})

    @property
    def price_display(self) -> str:
        return format_amount(self.price, self.currency)

    @property
    def price_text(self) -> str:
        """The price as a seller types it: 1250 USD → "12.50"."""
        if self.pay_what_you_want:  # the minimum, and 0 is one
            return to_decimal_string(self.price, self.currency)
        return to_decimal_string(self.price, self.currency) if self.price else ""

    @property
    def price_label(self) -> str:
        """The price as buyers see it: "$12.50", or "$5.00+" when they pay what they want."""
        if self.pay_what_you_want:
            return f"{format_amount(self.price, self.currency)}+"
        return self.price_display

    @property
    def suggested_display(self) -> str:
        return format_amount(self.suggested_price, self.currency) if self.suggested_price else ""

    @property
    def suggested_text(self) -> str:
        """What the amount field (and the dashboard's field) starts with: "7.50"."""
        if not self.suggested_price:
            return ""
        return to_decimal_string(self.suggested_price, self.currency)

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    @property
    def is_archived(self) -> bool:
        return self.status == self.Status.ARCHIVED

    @property
    def has_file(self) -> bool:
        return bool(self.file)

    @property
    def description_html(self) -> str:
        """The description's Markdown as sanitised HTML (safe to print unescaped)."""
        return markdown_html(self.description)

    @property
    def description_summary(self) -> str:
        """The description as a short line of plain text (the page's meta description)."""
        return summary_text(self.description)

    @property
    def cover_key(self) -> str:
        """The uuid in "covers/<uuid>.png", or "" while there is no cover to show."""
        if self.cover_state != self.CoverState.READY or not self.cover:
            return ""
        return self.cover.name.removeprefix("covers/").removesuffix(".png")

    @property
    def cover_files(self) -> list[str]:
        """Every stored file of the current cover: the PNG and its sized copies."""
        if not self.cover:
            return []
        return [self.cover.name] + [cover_sized_name(self.cover.name, w) for w in self.cover_widths]

    @property
    def cover_url(self) -> str:
        key = self.cover_key
        return reverse("catalog:cover", kwargs={"key": key}) if key else ""

    @property
    def preview_key(self) -> str:
        """The uuid in "previews/<uuid>.pdf", or "" while there is no preview to show."""
        if self.preview_state != self.PreviewState.READY or not self.preview:
            return ""
        return self.preview.name.removeprefix("previews/").removesuffix(".pdf")

    @property
    def preview_url(self) -> str:
        key = self.preview_key
        return reverse("catalog:preview", kwargs={"key": key}) if key else ""

    @property
    def preview_images(self) -> list[dict]:
        """The preview's page images for the product page: url, page number, position."""
        key = self.preview_key
        if not key:
            return []
        return [
            {
                "url": reverse("catalog:preview_page", kwargs={"key": key, "position": n}),
                "page": page,
                "position": n,
            }
            for n, page in enumerate(self.preview_pages, start=1)
        ]

    @property
    def preview_files(self) -> list[str]:
        """Every stored file of the current preview: the PDF and its page images."""
        if not self.preview:
            return []
        return [self.preview.name] + [
            preview_image_name(self.preview.name, n) for n in range(1, len(self.preview_pages) + 1)
        ]

    @property
    def cover_srcset(self) -> str:
        """The sized WebP copies for `<img srcset>`, or "" when there are none (yet)."""
        key = self.cover_key
        if not key or not self.cover_widths:
            return ""
        return ", ".join(
            f"{reverse('catalog:cover_sized', kwargs={'key': key, 'width': width})} {width}w"
            for width in self.cover_widths
        )


class FileSlot(models.Model):
    """One of a product's files ("Workbook", "Answers"; "A4", "Letter"): its name, its
    place in the list, its own download limit, and its current version.

    Each slot is a file buyers get: a purchase has one download grant per slot
    (payments.DownloadGrant), which records the version it serves. A new version becomes
    `current` for new buyers; earlier buyers keep theirs unless the seller gives it to
    them (payments.services.version_release)."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="slots")
    name = models.CharField(max_length=80, help_text="What buyers see, e.g. “Answers”.")
    position = models.PositiveSmallIntegerField(default=0)
    download_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Downloads per purchase; empty for unlimited."
    )
    current = models.ForeignKey(
        "ProductFile", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["product", "position"])]

    def __str__(self) -> str:
        return self.name


class ProductFile(models.Model):
    """One version of one of a product's files, kept in storage (never deleted while
    buyers may need it).

    Buyers keep the version they paid for: each download grant points at its version.
    When the seller gives a new version to past buyers, their grants move to it."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="versions")
    # Null only for rows made before products had several files (migrated to a slot).
    slot = models.ForeignKey(
        FileSlot, on_delete=models.CASCADE, null=True, blank=True, related_name="versions"
    )
    file = models.FileField(max_length=300)
    file_name = models.CharField(max_length=200)
    page_count = models.PositiveIntegerField()
    file_size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    # The seller's choice when uploading it: past buyers get this version (and an email).
    given_to_past_buyers = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.file_size:,} bytes)"


class DiscountCodeQuerySet(models.QuerySet):
    def named(self, code: str) -> DiscountCodeQuerySet:
        """Codes are case-insensitive: "spring", "SPRING" and "Spring" are one code."""
        return self.filter(code__iexact=code.strip())


class DiscountCode(models.Model):
    """A seller's discount code, in the store's schema (so no store sees another's codes).

    The discount is applied platform-side: the Checkout Session's unit amount is already
    the discounted price (see catalog.discounts). `uses` counts paid (or free) orders made
    with the code; payments raises it at fulfilment with a conditional UPDATE, so it never
    passes `max_uses`.
    """

    class Kind(models.TextChoices):
        PERCENT = "percent", "Percent off"
        FIXED = "fixed", "Amount off"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code = models.CharField(max_length=40)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    percent_off = models.PositiveSmallIntegerField(null=True, blank=True)
    amount_off = models.PositiveIntegerField(null=True, blank=True, help_text="Minor units.")
    # A fixed amount is in one currency and applies to products priced in it only.
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, blank=True)
    all_products = models.BooleanField(default=True)
    products = models.ManyToManyField(Product, blank=True, related_name="discount_codes")
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True)
    once_per_email = models.BooleanField(default=False)
    uses = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DiscountCodeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(Upper("code"), name="discount_code_unique_ci"),
            models.CheckConstraint(
                condition=models.Q(kind="percent", percent_off__gte=1, percent_off__lte=100)
                | models.Q(kind="fixed", amount_off__gte=1),
                name="discount_code_amount_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(max_uses__isnull=True)
                | models.Q(uses__lte=models.F("max_uses")),
                name="discount_code_uses_within_limit",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def discount_display(self) -> str:
        if self.kind == self.Kind.PERCENT:
            return f"{self.percent_off}% off"
        return f"{format_amount(self.amount_off or 0, self.currency)} off"

    def discount_for(self, price: int) -> int:
        """The discount on a price, in minor units: never more than the price.

        Percent: round half up to the minor unit (like the fee), so 15 % of 1999 is 300."""
        if self.kind == self.Kind.PERCENT:
            return min(price, (price * (self.percent_off or 0) + 50) // 100)
        return min(price, self.amount_off or 0)


class ProductViewDay(models.Model):
    """Views of one product page on one day (the store's time zone), rolled up from the
    Redis counters by catalog.pageviews.views_rollup; nothing writes here per request.

    Redis keeps nothing on disk, so its counters can start again from zero. Each store-day
    hash carries a random `epoch`; `settled` holds what earlier epochs counted, and `views`
    = `settled` + the current epoch's count. A rollup sets the count, never adds it, so
    rolling up twice gives the same row."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="view_days")
    day = models.DateField()
    views = models.PositiveIntegerField(default=0)
    settled = models.PositiveIntegerField(default=0)
    epoch = models.CharField(max_length=16, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "day"], name="product_view_day_unique")
        ]
        indexes = [models.Index(fields=["day"])]


class ProductReferrerDay(models.Model):
    """Views of one product page on one day that came from one referring site (the
    Referer's host) or named one `utm_source`. Same counting rules as ProductViewDay."""

    class Kind(models.TextChoices):
        SITE = "site", "Site"
        UTM = "utm", "utm_source"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="referrer_days")
    day = models.DateField()
    kind = models.CharField(max_length=4, choices=Kind.choices)
    source = models.CharField(max_length=100)
    views = models.PositiveIntegerField(default=0)
    settled = models.PositiveIntegerField(default=0)
    epoch = models.CharField(max_length=16, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["product", "day", "kind", "source"], name="product_referrer_day_unique"
            )
        ]
        indexes = [models.Index(fields=["day"])]
