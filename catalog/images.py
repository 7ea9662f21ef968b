"""Uploaded images (product covers, store logos): checked with Pillow, re-encoded as PNG
without metadata, scaled into a box. Whatever was uploaded, only clean pixels are kept."""

from __future__ import annotations

import io

from django.core.exceptions import ValidationError
from django.core.files import File
from PIL import Image, UnidentifiedImageError

FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}
MAX_PIXELS = 40_000_000


def image_to_png(
    file: File,
    *,
    box: tuple[int, int],
    max_bytes: int,
    label: str = "cover image",
    kind: str = "Covers",
) -> bytes:
    size = getattr(file, "size", None)
    if size is not None and size > max_bytes:
        raise ValidationError(f"The {label} is larger than {max_bytes // (1024 * 1024)} MB.")
    if size == 0:
        raise ValidationError(f"The {label} is empty (0 bytes).")
    file.seek(0)
    noun = label.split()[0]
    try:
        with Image.open(file) as image:
            if image.format not in FORMATS:
                raise ValidationError(
                    f"{kind} must be PNG, JPEG or WebP images, not {image.format or 'this format'}."
                )
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ValidationError(
                    f"The {label} is {width}×{height} pixels; keep it under 40 megapixels."
                )
            image.load()
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            image.thumbnail(box)
            out = io.BytesIO()
            image.save(out, format="PNG", optimize=True)
    except ValidationError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise ValidationError(
            f"The {noun} is not an image we can read: upload a PNG, JPEG or WebP file."
        ) from None
    except (OSError, ValueError, SyntaxError):
        raise ValidationError(
            f"The {label} is damaged or incomplete: export it again and upload it."
        ) from None
    finally:
        file.seek(0)
    return out.getvalue()


def png_to_webp_widths(png: bytes, *, widths: tuple[int, ...]) -> dict[int, bytes]:
    """Sized WebP copies of a cover we stored ourselves (already a clean PNG).

    One copy per width narrower than the image, plus one at the image's own width, so a
    srcset always has a full-size entry; never scaled up. Keys are the actual widths.
    """
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        sizes = sorted({w for w in widths if w < image.width} | {image.width})
        copies: dict[int, bytes] = {}
        for width in sizes:
            height = max(1, round(image.height * width / image.width))
            sized = image if width == image.width else image.resize((width, height), Image.LANCZOS)
            out = io.BytesIO()
            sized.save(out, format="WEBP", quality=80, method=4)
            copies[width] = out.getvalue()
    return copies
