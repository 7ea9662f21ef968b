"""The buyer library's magic link (`POST /library/`): limited per email and per client, and
silent about who bought. (Login rate limits are allauth's, tested in tests/sellers.)"""

from __future__ import annotations

import re

from django.core import mail

from payments.views import LIBRARY_LIMIT_PER_EMAIL, LIBRARY_LIMIT_PER_IP
from tests.conftest import store_client

from .conftest import BOB, AliceWorld

STRANGER = "nobody.bought.here@example.com"


def ask(world: AliceWorld, email: str, ip: str = "203.0.113.7", **headers):
    return store_client(world.store).post("/library/", {"email": email}, REMOTE_ADDR=ip, **headers)


def page(response) -> str:
    """The page without what differs on every request anyway (the CSRF token)."""
    html = response.content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def test_a_buyer_and_a_stranger_get_the_same_answer_and_only_the_buyer_gets_mail(world):
    mail.outbox.clear()
    bought, never = ask(world, BOB, ip="203.0.113.1"), ask(world, STRANGER, ip="203.0.113.2")
    assert bought.status_code == never.status_code == 200
    assert page(bought) == page(never)
    assert [m.to for m in mail.outbox] == [[BOB]]
    link = re.search(r"https?://\S+/library/\S+/", mail.outbox[0].body).group(0)
    assert link.startswith(world.store.url)


def test_the_answer_does_not_depend_on_the_case_or_spacing_of_the_email(world):
    mail.outbox.clear()
    first = ask(world, f"  {BOB.upper()} ", ip="203.0.113.3")
    second = ask(world, STRANGER.upper(), ip="203.0.113.4")
    assert page(first) == page(second)
    assert [m.to for m in mail.outbox] == [[BOB]]


def test_an_email_is_limited_whatever_address_asks_for_it(world):
    mail.outbox.clear()
    for n in range(LIBRARY_LIMIT_PER_EMAIL):
        assert ask(world, BOB, ip=f"198.51.100.{n}").status_code == 200
    refused = ask(world, BOB, ip="198.51.100.250")
    assert refused.status_code == 429
    assert b"Too many requests" in refused.content
    assert len(mail.outbox) == LIBRARY_LIMIT_PER_EMAIL
    # Another buyer's email is not held up by Bob's.
    assert ask(world, STRANGER, ip="198.51.100.251").status_code == 200


def test_an_address_is_limited_whatever_emails_it_asks_for(world):
    for n in range(LIBRARY_LIMIT_PER_IP):
        assert ask(world, f"guess{n}@example.com", ip="192.0.2.9").status_code == 200
    mail.outbox.clear()
    refused = ask(world, BOB, ip="192.0.2.9")
    assert refused.status_code == 429
    assert mail.outbox == []  # not even for a real buyer
    assert ask(world, BOB, ip="192.0.2.10").status_code == 200


def test_once_limited_a_buyer_and_a_stranger_still_look_the_same(world):
    for n in range(LIBRARY_LIMIT_PER_IP):
        ask(world, f"guess{n}@example.com", ip="192.0.2.20")
    bought, never = ask(world, BOB, ip="192.0.2.20"), ask(world, STRANGER, ip="192.0.2.20")
    assert bought.status_code == never.status_code == 429
    assert page(bought) == page(never)


def test_behind_the_proxy_one_client_using_up_its_limit_does_not_lock_out_another(world, settings):
    settings.TRUSTED_PROXY_COUNT = 1  # deploy/: nginx in front, DJANGO_TRUSTED_PROXY_COUNT=1
    nginx = "172.18.0.5"
    for n in range(LIBRARY_LIMIT_PER_IP + 1):
        ask(
            world,
            f"guess{n}@example.com",
            ip=nginx,
            HTTP_X_FORWARDED_FOR="203.0.113.66",
            HTTP_X_REAL_IP="203.0.113.66",
        )
    other = ask(
        world, BOB, ip=nginx, HTTP_X_FORWARDED_FOR="198.51.100.5", HTTP_X_REAL_IP="198.51.100.5"
    )
    assert other.status_code == 200
