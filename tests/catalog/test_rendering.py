"""Seller text made safe: Markdown through the allow-list, and download names."""

from __future__ import annotations

import pytest

from catalog.rendering import clean_line, download_name, markdown_html


def test_markdown_renders_the_usual_formatting():
    html = markdown_html("## Inside\n\n- **bold** and *italic*\n- [site](https://example.com)")
    assert "<h2>Inside</h2>" in html
    assert "<strong>bold</strong>" in html and "<em>italic</em>" in html
    assert '<a href="https://example.com" rel="nofollow noopener noreferrer ugc">site</a>' in html


@pytest.mark.parametrize(
    ("text", "never"),
    [
        ("<script>alert(1)</script>", "alert(1)"),
        ('<img src=x onerror="alert(1)">', "onerror"),
        ("[x](javascript:alert(1))", "javascript:"),
        ('<a href="data:text/html,<script>">x</a>', "data:"),
        ("<style>body{display:none}</style>", "display:none"),
        ('<iframe src="https://evil.example"></iframe>', "iframe"),
        ('<p style="position:fixed">x</p>', "position:fixed"),
    ],
)
def test_markdown_drops_scripts_handlers_and_dangerous_links(text, never):
    assert never not in markdown_html(text)


def test_an_empty_description_renders_nothing():
    assert markdown_html("") == ""


@pytest.mark.parametrize(
    ("uploaded", "expected"),
    [
        ("guide.pdf", "guide.pdf"),
        ("../../etc/passwd", "passwd.pdf"),
        ("C:\\Users\\alice\\Desktop\\Guide final.PDF", "Guide final.pdf"),
        ("évaluation 2024 – version définitive.pdf", "évaluation 2024 – version définitive.pdf"),
        ('a<b>c:d"e|f?g*h.pdf', "a_b_c_d_e_f_g_h.pdf"),
        ("report\x00.exe", "report_.exe.pdf"),
        ("....pdf", "fallback.pdf"),
        ("", "fallback.pdf"),
        ("x" * 300 + ".pdf", "x" * 150 + ".pdf"),
    ],
)
def test_download_names_keep_no_path_and_no_unsafe_characters(uploaded, expected):
    assert download_name(uploaded, fallback="fallback") == expected


def test_a_title_is_one_clean_line():
    assert clean_line("  Ferns\n\tand\x00 mosses  ") == "Ferns and mosses"
