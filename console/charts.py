"""A monthly bar chart as inline SVG: server-rendered, no JavaScript, no CDN.

Text sits in SVG user units, so it scales with the chart; app.css enlarges it and hides
every other month label on narrow screens (`.month-chart`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 480, 200
TOP, BOTTOM, SIDE = 22, 40, 6


def month_bar_chart(
    points: Sequence[tuple[date, int]],
    *,
    label: str,
    fmt: Callable[[int], str],
    highlight: date | None = None,
) -> SafeString:
    """One bar per (first day of month, minor units); `fmt` formats amounts."""
    if not points:
        return SafeString("")
    top = max(value for _, value in points) or 1
    plot_w = WIDTH - 2 * SIDE
    plot_h = HEIGHT - TOP - BOTTOM
    step = plot_w / len(points)
    bar_w = max(4.0, step * 0.64)
    base = TOP + plot_h
    bars = []
    labels = []
    for i, (month, value) in enumerate(points):
        h = 0.0 if value == 0 else max(2.0, plot_h * value / top)
        x = SIDE + i * step + (step - bar_w) / 2
        css = "bar is-current" if highlight and month == highlight else "bar"
        bars.append(
            (
                css,
                f"{x:.1f}",
                f"{base - h:.1f}",
                f"{bar_w:.1f}",
                f"{h:.1f}",
                f"{month:%B %Y}: {fmt(value)}",
            )
        )
        parity = "odd" if (len(points) - 1 - i) % 2 else "even"
        centre = f"{x + bar_w / 2:.1f}"
        labels.append((f"m-label {parity}", centre, HEIGHT - 22, f"{month:%b}"))
        if i == 0 or month.month == 1:  # the year under the first bar and every January
            labels.append((f"y-label {parity}", centre, HEIGHT - 5, f"{month:%Y}"))
    rects = format_html_join(
        "",
        '<rect class="{}" x="{}" y="{}" width="{}" height="{}" rx="3"><title>{}</title></rect>',
        bars,
    )
    texts = format_html_join(
        "", '<text class="{}" x="{}" y="{}" text-anchor="middle">{}</text>', labels
    )
    return format_html(
        '<svg class="month-chart" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">'
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
