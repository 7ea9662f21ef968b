"""Page 1 of a PDF drawn as a PNG by pdfium, in a child process with its own limits.

pdfium has no memory limit of its own, and what it allocates stays in the process that
drew (a Celery worker grew by ~120 MB per heavy cover). catalog.services only hands this
files that passed catalog.pdf (checked again just before, with page 1's own budget); the
child process is the last fence: an address-space limit (``COVER_RENDER_MEMORY_BYTES``,
768 MB by default), a CPU limit (30 s) and a wall-clock timeout (60 s). Whatever pdfium
does, the worker's own memory does not move, and a cover that cannot be drawn within the
limits is simply marked failed.

Run as a script (``python catalog/cover.py in.pdf out.png width height-cap memory cpu
[pages]``): it imports neither Django nor the project, only pypdfium2 and Pillow. With
``pages`` (0-based indexes, "0,1,2"), it draws each of them to ``out-<index>.png``, for
a product's preview images (catalog.services), under the same limits.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
from pathlib import Path

MIB = 1024 * 1024
MEMORY_BYTES = 768 * MIB
CPU_SECONDS = 30
TIMEOUT_SECONDS = 60


class CoverError(RuntimeError):
    """pdfium could not draw page 1 within the limits."""


def render_cover(
    path: str,
    *,
    width: int,
    max_height: int,
    memory_bytes: int = MEMORY_BYTES,
    cpu_seconds: int = CPU_SECONDS,
) -> bytes:
    """PNG bytes of page 1 of the PDF at `path`, `width` pixels wide (at most `max_height`)."""
    with tempfile.TemporaryDirectory(prefix="cover-") as folder:
        out = Path(folder) / "cover.png"
        command = [
            sys.executable,
            "-I",  # isolated: no PYTHON* variables, not catalog/ on sys.path
            str(Path(__file__).resolve()),
            path,
            str(out),
            str(width),
            str(max_height),
            str(memory_bytes),
            str(cpu_seconds),
        ]
        try:
            # Our own interpreter and script, no shell; the child sets its own limits.
            done = subprocess.run(
                command, capture_output=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise CoverError(f"drawing page 1 took more than {TIMEOUT_SECONDS} s") from exc
        if done.returncode != 0 or not out.exists():
            reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [
                f"exit status {done.returncode}"
            ]
            raise CoverError(f"pdfium could not draw page 1: {reason[0][:300]}")
        return out.read_bytes()


def render_pages(
    path: str,
    *,
    count: int,
    width: int,
    max_height: int,
    memory_bytes: int = MEMORY_BYTES,
    cpu_seconds: int = CPU_SECONDS,
) -> list[bytes]:
    """PNG bytes of pages 1..`count` of the PDF at `path`, drawn as `render_cover` draws
    page 1 (one child process for all of them, with the same limits)."""
    with tempfile.TemporaryDirectory(prefix="pages-") as folder:
        out = Path(folder) / "page.png"
        indexes = list(range(count))
        command = [
            sys.executable,
            "-I",
            str(Path(__file__).resolve()),
            path,
            str(out),
            str(width),
            str(max_height),
            str(memory_bytes),
            str(cpu_seconds),
            ",".join(str(i) for i in indexes),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise CoverError(f"drawing {count} pages took more than {TIMEOUT_SECONDS} s") from exc
        files = [_page_out(str(out), i) for i in indexes]
        if done.returncode != 0 or not all(Path(f).exists() for f in files):
            reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [
                f"exit status {done.returncode}"
            ]
            raise CoverError(f"pdfium could not draw the pages: {reason[0][:300]}")
        return [Path(f).read_bytes() for f in files]


def _page_out(out: str, index: int) -> str:
    return f"{out.removesuffix('.png')}-{index}.png"


def _draw(source: str, out: str, width: int, max_height: int, indexes: list[int] | None) -> None:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(source)
    try:
        for index in indexes if indexes is not None else [0]:
            page = document[index]
            page_width, page_height = page.get_size()
            if page_width <= 0 or page_height <= 0:
                raise ValueError(f"page {index + 1} has no size")
            # A very tall page is drawn at a width that keeps the bitmap bounded.
            scale = min(width / page_width, max_height / page_height)
            image = page.render(scale=scale).to_pil()
            page.close()
            target = out if indexes is None else _page_out(out, index)
            image.convert("RGB").save(target, format="PNG", optimize=True)
            del image
    finally:
        document.close()


def _main(argv: list[str]) -> None:
    source, out, width, max_height, memory, cpu, *pages = argv
    # Limits first, before pdfium is even loaded.
    resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))
    resource.setrlimit(resource.RLIMIT_CPU, (int(cpu), int(cpu)))
    indexes = [int(i) for i in pages[0].split(",")] if pages else None
    _draw(source, out, int(width), int(max_height), indexes)


if __name__ == "__main__":
    _main(sys.argv[1:])
