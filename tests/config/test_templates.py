"""Django's `{# … #}` comments end on the line they start: one spread over two lines is not a
comment but text, shown to every visitor (a storefront card once began with one). Longer
notes use {% comment %}."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _templates() -> list[Path]:
    skip = {".venv", "node_modules", "staticfiles", "test-artifacts", ".run"}
    return [p for p in ROOT.rglob("*.html") if not skip & set(p.relative_to(ROOT).parts)]


def test_every_template_comment_closes_on_its_own_line():
    found = _templates()
    assert len(found) > 20  # the project's templates were found
    open_comments = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in found
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.count("{#") > line.count("#}")
    ]
    assert open_comments == []
