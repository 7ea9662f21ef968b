"""Small server-rendered SVG charts: no JavaScript, no CDN, readable at any width."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


def bar_chart(
    points: Sequence[tuple[date, int]], *, label: str, fmt, width: int = 720, height: int = 200
) -> SafeString:
    """A bar per point; `fmt(amount)` formats the tooltip and the axis maximum."""
    if not points:
        return SafeString("")
    top = max(value for _, value in points) or 1
    pad_left, pad_bottom = 8, 22
    plot_w, plot_h = width - pad_left * 2, height - pad_bottom - 16
    step = plot_w / len(points)
    bar_w = max(2.0, step * 0.7)
    bars = []
    for i, (day, value) in enumerate(points):
        h = 0 if value == 0 else max(2.0, plot_h * value / top)
        x = pad_left + i * step + (step - bar_w) / 2
        y = 16 + plot_h - h
        bars.append(
            (f"{x:.1f}", f"{y:.1f}", f"{bar_w:.1f}", f"{h:.1f}", f"{day:%b %-d}: {fmt(value)}")
        )
    rects = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" rx="2" fill="var(--accent, #4f46e5)"><title>{}</title></rect>',
        bars,
    )
    first, last = points[0][0], points[-1][0]
    return format_html(
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{label}" preserveAspectRatio="none" '
        'style="width:100%;height:auto">'
        '<text x="{pl}" y="11" font-size="11" fill="#6b7280">{top}</text>'
        '<line x1="{pl}" y1="{base}" x2="{right}" y2="{base}" stroke="#e5e7eb"/>{rects}'
        '<text x="{pl}" y="{ty}" font-size="11" fill="#6b7280">{first}</text>'
        '<text x="{right}" y="{ty}" font-size="11" fill="#6b7280" text-anchor="end">{last}</text></svg>',
        w=width,
        h=height,
        label=label,
        pl=pad_left,
        top=fmt(top),
        base=16 + plot_h,
        right=width - pad_left,
        rects=rects,
        ty=height - 5,
        first=f"{first:%b %-d}",
        last=f"{last:%b %-d}",
    )
