"""Reading rendered pages the way assistive technology does: elements in document order,
with their attributes and text. The standard library's parser; nothing to install."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from itertools import pairwise

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    classes: set[str] = field(default_factory=set)
    inner: list[Element] = field(default_factory=list)  # every element inside, in order


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.open: list[Element] = []

    def handle_starttag(self, tag, attrs):
        values = {k: v or "" for k, v in attrs}
        element = Element(tag, values, classes=set(values.get("class", "").split()))
        for parent in self.open:
            parent.inner.append(element)
        self.elements.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.open.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i].tag == tag:
                del self.open[i:]
                break

    def handle_data(self, data):
        for element in self.open:
            element.text += data


def parse(html: str | bytes) -> list[Element]:
    parser = _Parser()
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    parser.close()
    return parser.elements


def find(html: str | bytes, tag: str, **attrs: str) -> list[Element]:
    return [
        e
        for e in parse(html)
        if e.tag == tag and all(e.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
    ]


def by_id(html: str | bytes, element_id: str) -> Element | None:
    return next((e for e in parse(html) if e.attrs.get("id") == element_id), None)


def meta_description(html: str | bytes) -> str | None:
    found = find(html, "meta", name="description")
    assert len(found) <= 1, "more than one meta description"
    return found[0].attrs.get("content") if found else None


def heading_levels(html: str | bytes) -> list[int]:
    return [int(e.tag[1]) for e in parse(html) if e.tag in {"h1", "h2", "h3", "h4", "h5", "h6"}]


def assert_headings_do_not_skip(html: str | bytes) -> None:
    """One h1 first; each heading at most one level below the one before (axe heading-order)."""
    levels = heading_levels(html)
    assert levels and levels[0] == 1, levels
    for before, after in pairwise(levels):
        assert after <= before + 1, f"h{before} then h{after} in {levels}"


def assert_help_texts_are_announced(html: str | bytes) -> int:
    """Every control pointing at a help text (aria-describedby) finds it by id. Returns how
    many were checked, so a test can say it checked the ones it meant to."""
    elements = parse(html)
    ids = {e.attrs["id"]: e for e in elements if "id" in e.attrs}
    checked = 0
    for control in elements:
        for ref in control.attrs.get("aria-describedby", "").split():
            assert ref in ids, f"<{control.tag} name={control.attrs.get('name')}> → #{ref} missing"
            assert ids[ref].text.strip(), f"#{ref} is empty"
            checked += 1
    return checked


def assert_headers_have_names(html: str | bytes) -> None:
    for th in find(html, "th"):
        assert th.text.strip(), f"an empty <th> ({th.attrs})"
