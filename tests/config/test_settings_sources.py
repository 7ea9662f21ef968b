"""Settings are read in config/settings.py only, from the environment, explicitly."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("config", "tenants", "catalog", "payments", "sellers", "console")


def product_files():
    for app in PRODUCT:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


def test_no_product_code_reads_a_setting_with_a_fallback_default():
    offenders = []
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr")
                and node.args
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id == "settings"
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_settings_assign_every_name_explicitly():
    source = (ROOT / "config" / "settings.py").read_text()
    assert "vars()" not in source and "globals()" not in source
    assert "sys.modules" not in source


def _settings_in_subprocess(env: dict[str, str], *names: str) -> dict:
    script = (
        "import json, pytest, config.settings as s; "  # pytest imported: it must not matter
        f"print(json.dumps({{n: getattr(s, n, None) for n in {list(names)!r}}}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_only_django_testing_makes_a_test_run():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_TESTING"}
    assert _settings_in_subprocess(env, "TESTING") == {"TESTING": False}
    assert _settings_in_subprocess({**env, "DJANGO_TESTING": "1"}, "TESTING") == {"TESTING": True}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp+tls://mailer:s3cret@mail.example.com:587",
            {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "mail.example.com",
                "EMAIL_PORT": 587,
                "EMAIL_HOST_USER": "mailer",
                "EMAIL_HOST_PASSWORD": "s3cret",
                "EMAIL_USE_TLS": True,
            },
        ),
        (
            "consolemail://",
            {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"},
        ),
    ],
)
def test_an_email_url_sets_the_email_settings(url, expected):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_MAILGUN")}
    env["DJANGO_EMAIL_URL"] = url
    seen = _settings_in_subprocess(env, *expected)
    assert seen == expected


def test_the_pdf_and_cover_limits_are_settings(settings):
    from catalog import pdf

    settings.PDF_MAX_PAGES = 7
    assert pdf.max_pages() == 7
    assert settings.PDF_REPAIR_MAX_BYTES > 0 and settings.COVER_MAX_UPLOAD_BYTES > 0
