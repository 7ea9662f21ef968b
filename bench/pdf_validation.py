"""What catalog.pdf costs per upload: the current validator against the one it replaced.

    python -m bench.pdf_validation [--baseline 3a8c6e5]

The baseline is catalog/pdf.py at the given commit (before every stream was decoded and
counted), loaded from git and run in the same process on the same files. For each file:
seconds (best of 3) and tracemalloc peak, and what each validator answered. No database.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import types
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _baseline(commit: str) -> types.ModuleType | None:
    try:
        source = subprocess.run(
            ["git", "show", f"{commit}:catalog/pdf.py"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("baseline_pdf")
    sys.modules["baseline_pdf"] = module  # dataclasses look their module up
    exec(compile(source, f"{commit}:catalog/pdf.py", "exec"), module.__dict__)  # noqa: S102
    return module


def _flate_images(pages: int) -> bytes:
    """`pages` pages, each one 1000×1000 photo-like image (noisy: ~1.6:1), Flate-compressed."""
    from tests.catalog.pdfs import assemble

    noise = os.urandom(3_000_000)
    pixels = noise.translate(bytes(i & 0x3F for i in range(256)))
    packed = zlib.compress(pixels, 6)
    kids = b" ".join(b"%d 0 R" % (3 + 3 * i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
    ]
    for i in range(pages):
        page, content, image = 3 + 3 * i, 4 + 3 * i, 5 + 3 * i
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
            b"/Resources << /XObject << /Im %d 0 R >> >> >>" % (content, image)
        )
        drawing = b"q 595 0 0 842 0 0 cm /Im Do Q"
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(drawing), drawing))
        objects.append(
            b"<< /Type /XObject /Subtype /Image /Width 1000 /Height 1000 /ColorSpace /DeviceRGB "
            b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
            % len(packed)
            + packed
            + b"\nendstream"
        )
    assert page and content and image
    return assemble(objects)


def _files() -> list[tuple[str, bytes]]:
    from catalog.samples import sample_pdf_bytes
    from tests.catalog.pdfs import big_pdf, stream_bomb_pdf

    return [
        ("3-page text PDF", sample_pdf_bytes(title="Ferns", subtitle="A guide", pages=3)),
        ("300-page text PDF", sample_pdf_bytes(title="Ferns", subtitle="A guide", pages=300)),
        ("100 MB, one raw image", big_pdf(megabytes=100, pages=50)),
        ("60 pages of Flate photos (172 MiB decoded)", _flate_images(60)),
        ("1 GiB content-stream bomb (1 MB)", stream_bomb_pdf(inflated_megabytes=1024)),
    ]


def _run(validate, path: Path) -> tuple[float, int, str]:
    """Best of 3, from a file on disk (as Django hands over an upload over 5 MB)."""
    best, peak, answer = float("inf"), 0, ""
    for _ in range(3):
        with path.open("rb") as upload:
            tracemalloc.start()
            started = time.perf_counter()
            try:
                info = validate(upload)
                answer = f"accepted, {info.page_count} pages"
            except Exception as exc:  # a refusal is an answer too
                answer = f"refused: {getattr(exc, 'message', exc)}"[:70]
            best = min(best, time.perf_counter() - started)
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
    return best, peak, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="3a8c6e5")
    args = parser.parse_args()
    _setup()
    from catalog import pdf

    baseline = _baseline(args.baseline)
    print(f"{'file':<44} {'size':>9}  {'now s':>7} {'peak MiB':>8}  {'base s':>7} {'ratio':>6}")
    folder = Path(tempfile.mkdtemp(prefix="bench-pdf-"))
    for n, (name, data) in enumerate(_files()):
        path = folder / f"{n}.pdf"
        path.write_bytes(data)
        now = _run(pdf.pdf_validate, path)
        line = f"{name:<44} {len(data) / 2**20:>7.1f}MB  {now[0]:>7.3f} {now[1] / 2**20:>8.1f}"
        if baseline is not None:
            base = _run(baseline.pdf_validate, path)
            line += f"  {base[0]:>7.3f} {now[0] / base[0]:>5.1f}x"
            print(line)
            print(f"    now:  {now[2]}\n    base: {base[2]}")
        else:
            print(line + "  (no baseline: git unavailable)")
            print(f"    now:  {now[2]}")
        path.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()
