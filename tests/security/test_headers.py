"""Security headers on every kind of page, and production settings that refuse to be unsafe.

Pages: Alice's storefront, product page, cover, buyer download and library, her dashboard,
refusals (403, 404, 410), the main site's landing and login, the webhook's JSON. Production:
`manage.py check --deploy` in a subprocess with a production-like environment, and a
production start without its secrets must fail and name what is missing.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings

from tests.conftest import main_client, store_client

from .conftest import AliceWorld

BASE_DIR = Path(__file__).resolve().parents[2]
# Values that never send a URL's path (download and library tokens) to another origin.
SAFE_REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}


def pages(world: AliceWorld) -> dict[str, tuple[Client, str]]:
    store = world.store
    anonymous, owner = store_client(store), store_client(store, world.owner)
    return {
        "storefront": (anonymous, "/"),
        "product page": (anonymous, world.product.get_absolute_url()),
        "cover": (anonymous, world.product.cover_url),
        "download": (anonymous, f"/d/{world.download_token}/"),
        "library": (anonymous, f"/library/{world.library_token}/"),
        "refused download (404)": (anonymous, "/d/not-a-token/"),
        "expired library link (410)": (anonymous, "/library/not-a-token/"),
        "dashboard": (owner, "/dashboard/"),
        "dashboard products": (owner, "/dashboard/products/"),
        "dashboard for a stranger (403)": (store_client(store, world.mallory), "/dashboard/"),
        "unknown store (404)": (Client(HTTP_HOST=f"nobody.{settings.PLATFORM_DOMAIN}"), "/"),
        "suspended store (503)": (store_client(world.suspended), "/"),
        "main site": (main_client(), "/"),
        "main site login": (main_client(), "/accounts/login/"),
        "seller home": (main_client(world.owner), "/start/"),
        "console (404)": (main_client(world.owner), "/console/"),
    }


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        if part.strip():
            name, *sources = part.split()
            directives[name.lower()] = sources
    return directives


@pytest.fixture
def headed_world(world, mallory, mallory_store) -> AliceWorld:
    from tenants.services import store_suspend

    world.mallory = mallory
    world.suspended = store_suspend(store=mallory_store, reason="Chargebacks")
    return world


def test_every_page_carries_the_security_headers(headed_world):
    problems = []
    for page, (client, path) in pages(headed_world).items():
        response = client.get(path)
        response.getvalue()  # drain a streamed file
        csp = csp_directives(response.get("Content-Security-Policy", ""))
        script = csp.get("script-src", csp.get("default-src"))
        if not csp:
            problems.append(f"{page}: no Content-Security-Policy")
        elif script != ["'self'"]:
            problems.append(f"{page}: script-src is {script}")
        if "'unsafe-eval'" in response.get("Content-Security-Policy", ""):
            problems.append(f"{page}: CSP allows 'unsafe-eval'")
        if csp and csp.get("object-src") != ["'none'"]:
            problems.append(f"{page}: object-src is {csp.get('object-src')}")
        framing = response.get("X-Frame-Options") == "DENY" or csp.get("frame-ancestors") == [
            "'none'"
        ]
        if not framing:
            problems.append(f"{page}: may be framed")
        if response.get("X-Content-Type-Options") != "nosniff":
            problems.append(f"{page}: no nosniff")
        if response.get("Referrer-Policy") not in SAFE_REFERRER_POLICIES:
            problems.append(f"{page}: Referrer-Policy {response.get('Referrer-Policy')!r}")
    assert not problems, "\n".join(problems)


def test_pages_opened_by_a_token_are_never_cached(world):
    client = store_client(world.store)
    for path in (
        f"/d/{world.download_token}/",
        f"/library/{world.library_token}/",
        f"/thanks/?session_id={world.session_id}",
    ):
        response = client.get(path)
        response.getvalue()
        cache_control = response.get("Cache-Control", "")
        assert response.status_code == 200, path
        assert "no-store" in cache_control and "private" in cache_control, (path, cache_control)


@override_settings(SECURE_HSTS_SECONDS=31_536_000, SECURE_SSL_REDIRECT=False)
def test_https_responses_carry_hsts_for_every_subdomain(alice_store):
    for client in (store_client(alice_store), main_client()):
        hsts = client.get("/", secure=True)["Strict-Transport-Security"]
        assert "max-age=31536000" in hsts
        assert "includeSubDomains" in hsts  # stores are subdomains of the platform
    assert not store_client(alice_store).get("/").has_header("Strict-Transport-Security")


# --- Production settings --------------------------------------------------------------------


def production_env(**changes: str) -> dict[str, str]:
    db = connection.settings_dict
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "False",
        "DJANGO_TESTING": "False",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_EMAIL_URL": "consolemail://",
        "STRIPE_SECRET_KEY": "sk_live_" + secrets.token_hex(12),
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
        "DJANGO_ALLOWED_HOSTS": "example.com,.example.com",
        "PLATFORM_DOMAIN": "example.com",
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
    }
    env.update(changes)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_the_deploy_check_without_a_warning(db):
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_the_deploy_check_does_fail_on_a_weak_secret_key(db):
    """The check above can fail: a short, guessable key is a warning, hence an exit 1."""
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        production_env(DJANGO_SECRET_KEY="too-short"),
    )
    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout


@pytest.mark.parametrize(
    "variable", ["DJANGO_SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"]
)
def test_production_refuses_to_start_without_its_secret(variable):
    # Set to empty rather than removed: a stray .env file must not fill it in.
    result = run(["-c", "import django; django.setup()"], production_env(**{variable: ""}))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr


def test_production_starts_with_every_secret_set():
    """The control for the test above: the same environment, complete, starts."""
    result = run(["-c", "import django; django.setup()"], production_env())
    assert result.returncode == 0, result.stderr


def test_production_refuses_allowed_hosts_star(db):
    """Custom domains do not need `*`: the domain table lets verified ones in."""
    result = run(["manage.py", "check"], production_env(DJANGO_ALLOWED_HOSTS="*"))
    assert result.returncode != 0
    assert "must name the platform's hosts" in result.stderr


def test_a_session_cookie_domain_wider_than_the_platform_is_refused(db):
    result = run(
        ["manage.py", "check"],
        production_env(
            PLATFORM_DOMAIN="shop.example.com", DJANGO_SESSION_COOKIE_DOMAIN=".example.com"
        ),
    )
    assert result.returncode != 0
    assert "DJANGO_SESSION_COOKIE_DOMAIN must be .shop.example.com" in result.stderr


def test_the_shipped_configuration_never_allows_every_host():
    for name in ("docker-compose.yml", ".env.example"):
        text = (BASE_DIR / name).read_text()
        lines = [line for line in text.splitlines() if "DJANGO_ALLOWED_HOSTS" in line]
        assert lines, name
        assert not any("*" in line.split("#")[0] for line in lines), (name, lines)
