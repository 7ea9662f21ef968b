"""Real, valid, decent-looking sample PDFs for the demo store and the tests.

Pages are drawn with hand-written content streams and the standard Helvetica fonts (every
PDF reader has them, so nothing is embedded): a coloured title page, then text pages with a
running header and page numbers. pypdf only assembles and writes the file.
"""

from __future__ import annotations

import io
import zlib

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

A4 = (595.0, 842.0)
MARGIN = 64.0

# Advance widths (1/1000 em) of ASCII 32..126, from Adobe's core-14 AFM files.
_HELVETICA = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722,
    722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722,
    667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556,
    556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500,
    500, 334, 260, 334, 584,
)  # fmt: skip
_HELVETICA_BOLD = (
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722,
    722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722,
    667, 944, 667, 667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611,
    611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556,
    500, 389, 280, 389, 584,
)  # fmt: skip
_FONTS = {"/F1": ("Helvetica", _HELVETICA), "/F2": ("Helvetica-Bold", _HELVETICA_BOLD)}

# Colours for the title page, picked from the title so every sample looks a little different.
_PALETTE = (
    ((0.31, 0.27, 0.90), (0.20, 0.17, 0.62)),  # indigo
    ((0.02, 0.47, 0.34), (0.01, 0.31, 0.23)),  # green
    ((0.73, 0.21, 0.33), (0.50, 0.11, 0.21)),  # rose
    ((0.85, 0.47, 0.02), (0.58, 0.29, 0.01)),  # amber
    ((0.05, 0.45, 0.62), (0.03, 0.29, 0.42)),  # sky
)

_PARAGRAPHS = (
    "This sample shows what buyers receive: a real PDF with real text on every page. "
    "Replace it with your own work whenever you like; the page count, size and cover "
    "update by themselves.",
    "Good digital products answer one question well. Start with the problem your reader "
    "has, show the shortest path to a solution, then give them something to practise with.",
    "Each chapter in this guide ends with a short checklist. Print it, tick the boxes, and "
    "come back to the chapter when something does not work the way you expected.",
    "Screens are tiring; paper is patient. Many readers print a PDF they paid for, so every "
    "page keeps generous margins and a readable type size.",
    "Questions and corrections are always welcome. The author updates this guide from time "
    "to time, and buyers can download the latest version from their library.",
)


def _latin1(text: str) -> str:
    # The standard fonts speak WinAnsi: keep what fits, replace what does not.
    return text.encode("cp1252", "replace").decode("cp1252")


def _escape(text: str) -> bytes:
    raw = _latin1(text).encode("cp1252")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _width(text: str, font: str, size: float) -> float:
    widths = _FONTS[font][1]
    total = sum(widths[ord(c) - 32] if 32 <= ord(c) <= 126 else 556 for c in text)
    return total * size / 1000


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if line and _width(candidate, font, size) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


class _Canvas:
    """Just enough of a drawing API to write a page's content stream."""

    def __init__(self) -> None:
        self.ops: list[bytes] = []

    def rect(self, x: float, y: float, w: float, h: float, rgb: tuple[float, ...]) -> None:
        self.ops.append(b"%.3f %.3f %.3f rg %.2f %.2f %.2f %.2f re f" % (*rgb, x, y, w, h))

    def line(self, x1: float, y1: float, x2: float, y2: float, rgb: tuple[float, ...]) -> None:
        self.ops.append(
            b"%.3f %.3f %.3f RG 0.8 w %.2f %.2f m %.2f %.2f l S" % (*rgb, x1, y1, x2, y2)
        )

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        font: str = "/F1",
        size: float = 11,
        rgb: tuple[float, ...] = (0.07, 0.09, 0.15),
        align: str = "left",
    ) -> None:
        if align == "right":
            x -= _width(text, font, size)
        elif align == "center":
            x -= _width(text, font, size) / 2
        self.ops.append(
            b"BT %s %.1f Tf %.3f %.3f %.3f rg %.2f %.2f Td (%s) Tj ET"
            % (font.encode(), size, *rgb, x, y, _escape(text))
        )

    def paragraph(
        self, x: float, y: float, text: str, *, width: float, size: float = 11, leading: float = 16
    ) -> float:
        for line in _wrap(text, "/F1", size, width):
            self.text(x, y, line, size=size)
            y -= leading
        return y

    def stream(self) -> DecodedStreamObject:
        stream = DecodedStreamObject()
        stream.set_data(b"\n".join(self.ops))
        return stream


def _title_page(canvas: _Canvas, *, title: str, subtitle: str, pages: int) -> None:
    width, height = A4
    light, dark = _PALETTE[zlib.crc32(title.encode()) % len(_PALETTE)]
    canvas.rect(0, 0, width, height, light)
    canvas.rect(0, 0, width, 150, dark)
    canvas.rect(MARGIN, height - 190, 56, 6, (1, 1, 1))
    y = height - 250
    for line in _wrap(title, "/F2", 38, width - 2 * MARGIN)[:4]:
        canvas.text(MARGIN, y, line, font="/F2", size=38, rgb=(1, 1, 1))
        y -= 46
    y -= 8
    for line in _wrap(subtitle, "/F1", 16, width - 2 * MARGIN)[:4]:
        canvas.text(MARGIN, y, line, size=16, rgb=(0.93, 0.94, 1))
        y -= 22
    canvas.text(
        MARGIN, 86, f"{pages} page{'s' if pages != 1 else ''} · PDF", size=12, rgb=(1, 1, 1)
    )
    canvas.text(MARGIN, 66, "A sample made by product_purchase", size=10, rgb=(0.85, 0.87, 1))


def _text_page(canvas: _Canvas, *, title: str, number: int, pages: int) -> None:
    width, height = A4
    grey = (0.42, 0.45, 0.50)
    canvas.text(MARGIN, height - 44, title[:80], size=9, rgb=grey)
    canvas.text(
        width - MARGIN, height - 44, f"Page {number} of {pages}", size=9, rgb=grey, align="right"
    )
    canvas.line(MARGIN, height - 54, width - MARGIN, height - 54, (0.85, 0.87, 0.90))
    chapter = number - 1
    canvas.text(MARGIN, height - 110, f"Chapter {chapter}", font="/F2", size=22)
    y = height - 150
    for i in range(len(_PARAGRAPHS)):
        text = _PARAGRAPHS[(chapter + i) % len(_PARAGRAPHS)]
        y = canvas.paragraph(MARGIN, y, text, width=width - 2 * MARGIN) - 12
    y -= 6
    canvas.text(MARGIN, y, "Checklist", font="/F2", size=13)
    y -= 22
    for item in ("Read the chapter once, quickly.", "Try the exercise.", "Note one question."):
        canvas.rect(MARGIN, y - 2, 9, 9, (0.80, 0.83, 0.95))
        canvas.text(MARGIN + 18, y, item)
        y -= 20
    canvas.text(width / 2, 36, str(number), size=9, rgb=grey, align="center")


def sample_pdf_bytes(*, title: str, subtitle: str, pages: int) -> bytes:
    """A `pages`-page PDF: a coloured title page, then text pages with numbers."""
    if pages < 1:
        raise ValueError("A PDF has at least one page.")
    writer = PdfWriter()
    fonts = DictionaryObject(
        {
            NameObject(key): DictionaryObject(
                {
                    NameObject("/Type"): NameObject("/Font"),
                    NameObject("/Subtype"): NameObject("/Type1"),
                    NameObject("/BaseFont"): NameObject(f"/{base}"),
                    NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
                }
            )
            for key, (base, _widths) in _FONTS.items()
        }
    )
    for number in range(1, pages + 1):
        page = writer.add_blank_page(*A4)
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
        canvas = _Canvas()
        if number == 1:
            _title_page(canvas, title=title, subtitle=subtitle, pages=pages)
        else:
            _text_page(canvas, title=title, number=number, pages=pages)
        page.replace_contents(canvas.stream())
        page.compress_content_streams()
    writer.add_metadata({"/Title": _latin1(title), "/Subject": _latin1(subtitle)})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
