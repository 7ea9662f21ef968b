"""Bar charts as inline SVG: server-rendered, no JavaScript, no CDN, readable at any width.

One builder for the seller dashboard (sales per day) and the console (fees per month).
Text sits in SVG user units, so it scales with the chart; app.css styles it and, on narrow
screens, enlarges the text and hides every other month label (`.bar-chart`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Literal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 480, 200
TOP, BOTTOM, SIDE = 22, 40, 6


def bar_chart(
    points: Sequence[tuple[date, int]],
    *,
    label: str,
    fmt: Callable[[int], str],
    period: Literal["day", "month"] = "month",
    highlight: date | None = None,
) -> SafeString:
    """One bar per (day or first day of month, minor units); `fmt` formats amounts.

    Months are labelled under every bar (the year under the first bar and every January);
    days under the first and the last bar. `highlight` marks one bar (`is-current`).
    """
    if not points:
        return SafeString("")
    top = max(value for _, value in points) or 1
    plot_w = WIDTH - 2 * SIDE
    plot_h = HEIGHT - TOP - BOTTOM
    step = plot_w / len(points)
    bar_w = max(2.0, step * 0.64)
    base = TOP + plot_h
    bars = []
    labels = []
    for i, (when, value) in enumerate(points):
        h = 0.0 if value == 0 else max(2.0, plot_h * value / top)
        x = SIDE + i * step + (step - bar_w) / 2
        css = "bar is-current" if highlight and when == highlight else "bar"
        tip = f"{when:%B %Y}" if period == "month" else f"{when:%b %-d}"
        bars.append(
            (css, f"{x:.1f}", f"{base - h:.1f}", f"{bar_w:.1f}", f"{h:.1f}", f"{tip}: {fmt(value)}")
        )
        centre = f"{x + bar_w / 2:.1f}"
        if period == "month":
            parity = "odd" if (len(points) - 1 - i) % 2 else "even"
            labels.append((f"m-label {parity}", centre, HEIGHT - 22, "middle", f"{when:%b}"))
            if i == 0 or when.month == 1:
                labels.append((f"y-label {parity}", centre, HEIGHT - 5, "middle", f"{when:%Y}"))
        elif i in (0, len(points) - 1):
            anchor = "start" if i == 0 and len(points) > 1 else "end"
            x_text = f"{SIDE:.1f}" if anchor == "start" else f"{WIDTH - SIDE:.1f}"
            labels.append(("d-label", x_text, HEIGHT - 22, anchor, f"{when:%b %-d}"))
    rects = format_html_join(
        "",
        '<rect class="{}" x="{}" y="{}" width="{}" height="{}" rx="3"><title>{}</title></rect>',
        bars,
    )
    texts = format_html_join(
        "", '<text class="{}" x="{}" y="{}" text-anchor="{}">{}</text>', labels
    )
    return format_html(
        '<svg class="bar-chart" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">'
        '<text class="axis" x="{side}" y="14">max {top}</text>'
        '<line class="grid" x1="{side}" y1="{top_y}" x2="{right}" y2="{top_y}"/>'
        '<line class="baseline" x1="{side}" y1="{base}" x2="{right}" y2="{base}"/>'
        "{rects}{texts}</svg>",
        w=WIDTH,
        h=HEIGHT,
        label=label,
        side=SIDE,
        top=fmt(top),
        top_y=TOP,
        right=WIDTH - SIDE,
        base=f"{base:.1f}",
        rects=rects,
        texts=texts,
    )


SPARK_W, SPARK_H, SPARK_PAD = 120, 28, 2


def sparkline(views: Sequence[int], sales: Sequence[int] = (), *, label: str) -> SafeString:
    """A product's trend in a table row: views per day as a line, days with sales as dots.

    Same scale rules as `bar_chart` (server-rendered, no script); the label says the
    figures in words for screen readers, the <title> for pointer users.
    """
    if not views:
        return SafeString("")
    top = max(max(views), 1)
    n = len(views)
    step = (SPARK_W - 2 * SPARK_PAD) / max(n - 1, 1)
    plot_h = SPARK_H - 2 * SPARK_PAD

    def y(value: int) -> str:
        return f"{SPARK_PAD + plot_h - plot_h * value / top:.1f}"

    points = " ".join(f"{SPARK_PAD + i * step:.1f},{y(v)}" for i, v in enumerate(views))
    dots = format_html_join(
        "",
        '<circle class="spark-sale" cx="{}" cy="{}" r="2"/>',
        (
            (f"{SPARK_PAD + i * step:.1f}", y(views[i]))
            for i, count in enumerate(sales)
            if count and i < n
        ),
    )
    return format_html(
        '<svg class="sparkline" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="{label}"><title>{label}</title>'
        '<polyline class="spark-line" fill="none" points="{points}"/>{dots}</svg>',
        w=SPARK_W,
        h=SPARK_H,
        label=label,
        points=points,
        dots=dots,
    )
