"""The account takeover of issue #9, tried step by step as Mallory would, and the session
rules that make it impossible (tenants.sessions, sellers.handoff).

The chain: Mallory adds a custom domain to her store and verifies it (its DNS is hers),
then points it at her own server. Alice — or a platform admin — signed in on the main
domain follows one link, `GET /accounts/handoff/?next=http://mallory-domain.example/`.
It used to answer with a sign-in token for the victim on Mallory's host; Mallory replayed
it on the platform and was the victim. Now it fails at the first step, and each later
step fails on its own too.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client

from sellers.handoff import _token
from tenants.services import store_create
from tests.conftest import PASSWORD, main_client, make_seller, make_user

from .conftest import hand_off, verified_domain

MALLORY_DOMAIN = "mallory-domain.example"
ALICE_DOMAIN = "shop.alice-guides.test"


@pytest.fixture
def olivia(db):
    from allauth.account.models import EmailAddress

    user = make_user("olivia@example.com", superuser=True)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def mallory_domain(mallory_store) -> str:
    verified_domain(mallory_store, MALLORY_DOMAIN)
    return MALLORY_DOMAIN


@pytest.fixture
def alice_domain(alice_store) -> str:
    verified_domain(alice_store, ALICE_DOMAIN)
    return ALICE_DOMAIN


def signed_in_main(user) -> Client:
    """A browser signed in on the main domain through the real sign-in page."""
    client = main_client()
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    assert client.session["_auth_user_id"] == str(user.pk)
    return client


def session_cookie(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def replay(cookie: str, host: str) -> Client:
    """A browser of Mallory's carrying a stolen session cookie to `host`."""
    client = Client(HTTP_HOST=host)
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    return client


def is_anonymous_on_store(client: Client) -> bool:
    response = client.get("/dashboard/")
    return response.status_code == 302 and "/accounts/handoff/" in response["Location"]


def is_anonymous_on_main(client: Client) -> bool:
    response = client.get("/start/")
    return response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- The chain, step by step --------------------------------------------------------------


@pytest.mark.parametrize("victim_kind", ["alice", "superuser"])
def test_the_chain_fails_at_the_first_step(victim_kind, alice, alice_store, olivia, mallory_domain):
    victim = {"alice": alice, "superuser": olivia}[victim_kind]
    main = signed_in_main(victim)
    for target in (
        f"http://{MALLORY_DOMAIN}/",
        f"http://{MALLORY_DOMAIN}/dashboard/",
        "http://mallory.localhost:8000/dashboard/",  # her subdomain is not the victim's either
    ):
        response = main.get("/accounts/handoff/", {"next": target})
        assert response.status_code == 403, target
        assert not response.has_header("Location"), target
        assert "not one of your stores" in response.content.decode()
        assert b"token=" not in response.content


@pytest.mark.parametrize("victim_kind", ["alice", "superuser"])
def test_a_token_naming_the_victim_is_refused_on_mallorys_domain(
    victim_kind, alice, olivia, mallory_store, mallory_domain
):
    """Step 2, had a token leaked anyway: her host signs in only her store's owner."""
    victim = {"alice": alice, "superuser": olivia}[victim_kind]
    for admin_view in (False, True):
        token = _token(user=victim, store=mallory_store, host=MALLORY_DOMAIN, admin_view=admin_view)
        client = Client(HTTP_HOST=MALLORY_DOMAIN)
        response = client.get("/auth/handoff/", {"token": token, "next": "/dashboard/"})
        assert response.status_code == 403
        assert "_auth_user_id" not in client.session


def test_a_session_from_mallorys_domain_is_nobody_on_the_platform(mallory, mallory_domain, olivia):
    """Step 3: whatever session her server gets hold of on her domain, replayed on the
    platform, is an anonymous visitor's — on the main domain and in the console."""
    mallorys_own = hand_off(signed_in_main(mallory), MALLORY_DOMAIN)
    assert mallorys_own.get("/dashboard/").status_code == 200  # it works where it belongs
    stolen = session_cookie(mallorys_own)
    assert is_anonymous_on_main(replay(stolen, settings.PLATFORM_DOMAIN))
    assert replay(stolen, settings.PLATFORM_DOMAIN).get("/console/").status_code == 404
    assert is_anonymous_on_store(replay(stolen, "mallory.localhost"))


# --- Sessions stay on their host ------------------------------------------------------------


def test_a_store_session_replayed_on_another_host_is_refused(
    alice, alice_store, alice_domain, mallory_store, mallory_domain
):
    main = signed_in_main(alice)
    on_subdomain = hand_off(main, alice_store.host)
    on_custom = hand_off(main, ALICE_DOMAIN)
    for browser, home in ((on_subdomain, alice_store.host), (on_custom, ALICE_DOMAIN)):
        cookie = session_cookie(browser)
        elsewhere = {alice_store.host, ALICE_DOMAIN, mallory_store.host, MALLORY_DOMAIN} - {home}
        for host in elsewhere:
            assert is_anonymous_on_store(replay(cookie, host)), (home, host)
        assert is_anonymous_on_main(replay(cookie, settings.PLATFORM_DOMAIN)), home
        # Refused elsewhere, the session still works at home.
        assert browser.get("/dashboard/").status_code == 200, home


def test_the_platform_session_is_not_accepted_on_a_custom_domain(alice, alice_domain):
    main = signed_in_main(alice)
    assert is_anonymous_on_store(replay(session_cookie(main), ALICE_DOMAIN))
    # …while it is the platform's, on the platform.
    assert not is_anonymous_on_main(main)


def test_a_superusers_store_session_carries_no_superuser_power(olivia, alice_store):
    """Olivia owns a store too. Signed in there by a hand-off she is its owner, no more:
    not an admin on Alice's store, and nothing in the console."""
    own = store_create(owner=olivia, name="Olivia's", subdomain="olivia")
    verified_domain(own, "olivia-shop.example")
    main = main_client(olivia)
    for host in (own.host, "olivia-shop.example"):
        browser = hand_off(main, host)
        cookie = session_cookie(browser)
        assert is_anonymous_on_store(replay(cookie, alice_store.host))
        assert replay(cookie, settings.PLATFORM_DOMAIN).get("/console/").status_code == 404


def test_the_admins_read_only_session_opens_one_store_only(olivia, alice_store, mallory_store):
    from console.models import AuditEntry

    response = main_client(olivia).post(f"/console/stores/{alice_store.pk}/dashboard/")
    target = urlsplit(response["Location"])
    assert target.hostname == alice_store.host
    browser = Client(HTTP_HOST=alice_store.host)
    assert browser.get(f"{target.path}?{target.query}").status_code == 302
    assert browser.get("/dashboard/sales/").status_code == 200
    assert browser.post("/dashboard/settings/", {"name": "x"}).status_code == 403
    cookie = session_cookie(browser)
    assert is_anonymous_on_store(replay(cookie, mallory_store.host))
    assert replay(cookie, settings.PLATFORM_DOMAIN).get("/console/").status_code == 404
    assert list(
        AuditEntry.objects.filter(action="store.view").values_list("after__path", flat=True)
    ) == ["/dashboard/sales/"]
    assert browser.session.get_expiry_age() == 3600  # a look, not a stay


def test_a_read_only_token_never_opens_a_custom_domain(olivia, alice_store, alice_domain):
    token = _token(user=olivia, store=alice_store, host=ALICE_DOMAIN, admin_view=True)
    client = Client(HTTP_HOST=ALICE_DOMAIN)
    response = client.get("/auth/handoff/", {"token": token, "next": "/dashboard/"})
    assert response.status_code == 403


def test_the_handoff_session_cookie_is_host_only_on_a_custom_domain(alice, alice_domain, settings):
    settings.SESSION_COOKIE_DOMAIN = ".localhost"  # production: the platform's parent domain
    browser = Client(HTTP_HOST=ALICE_DOMAIN)
    start = urlsplit(browser.get("/dashboard/")["Location"])
    target = urlsplit(main_client(alice).get(f"{start.path}?{start.query}")["Location"])
    finish = browser.get(f"{target.path}?{target.query}")
    assert finish.cookies[settings.SESSION_COOKIE_NAME]["domain"] == ""


def test_with_a_shared_cookie_the_subdomain_needs_no_token(alice, alice_store, settings):
    settings.SESSION_COOKIE_DOMAIN = ".localhost"
    response = main_client(alice).get(
        "/accounts/handoff/", {"next": f"http://{alice_store.host}:8000/dashboard/"}
    )
    assert response["Location"] == f"http://{alice_store.host}:8000/dashboard/"


# --- Signing out ends everything --------------------------------------------------------------


def test_logout_ends_every_session_on_every_host(alice, alice_store, alice_domain):
    main = signed_in_main(alice)
    other_main = signed_in_main(alice)  # another browser, on the main domain
    on_subdomain = hand_off(main, alice_store.host)
    on_custom = hand_off(main, ALICE_DOMAIN)
    # A token still in flight when she signs out.
    start = urlsplit(Client(HTTP_HOST=alice_store.host).get("/dashboard/")["Location"])
    in_flight = urlsplit(main.get(f"{start.path}?{start.query}")["Location"])

    assert main.post("/accounts/logout/").status_code == 302

    assert is_anonymous_on_main(main)
    assert is_anonymous_on_main(other_main)
    assert is_anonymous_on_store(on_subdomain)
    assert is_anonymous_on_store(on_custom)
    late = Client(HTTP_HOST=alice_store.host).get(f"{in_flight.path}?{in_flight.query}")
    assert late.status_code == 403


def test_a_password_change_ends_the_other_sessions(alice, alice_store):
    main = signed_in_main(alice)
    other_main = signed_in_main(alice)
    on_subdomain = hand_off(other_main, alice_store.host)
    response = main.post(
        "/accounts/password/change/",
        {
            "oldpassword": PASSWORD,
            "password1": "a-new-long-pass-8812",
            "password2": "a-new-long-pass-8812",
        },
    )
    assert response.status_code == 302
    assert not is_anonymous_on_main(main)  # the browser that changed it stays signed in
    assert is_anonymous_on_main(other_main)
    assert is_anonymous_on_store(on_subdomain)


def test_a_password_reset_ends_every_session(alice, alice_store):
    from sellers.models import User

    main = signed_in_main(alice)
    on_subdomain = hand_off(main, alice_store.host)
    user = User.objects.get(pk=alice.pk)
    user.set_password("reset-by-email-5531")  # what the reset form does
    user.save()
    assert is_anonymous_on_main(main)
    assert is_anonymous_on_store(on_subdomain)


def test_signing_out_ends_only_that_users_sessions(alice, alice_store, mallory, mallory_store):
    alice_main = signed_in_main(alice)
    mallory_browser = hand_off(signed_in_main(mallory), mallory_store.host)
    alice_main.post("/accounts/logout/")
    assert mallory_browser.get("/dashboard/").status_code == 200


def test_the_handoff_token_names_the_store_and_epoch(alice, alice_store):
    response = main_client(alice).get(
        "/accounts/handoff/", {"next": f"http://{alice_store.host}/dashboard/"}
    )
    token = parse_qs(urlsplit(response["Location"]).query)["token"][0]
    from django.core import signing

    data = signing.loads(token, salt="sellers.handoff")
    assert (data["h"], data["s"], data["e"], data["a"]) == (
        alice_store.host,
        alice_store.schema_name,
        0,
        False,
    )


def test_a_seller_without_a_store_gets_no_token(db):
    nobody = make_seller("nobody@example.com")
    response = main_client(nobody).get("/accounts/handoff/", {"next": "http://alice.localhost/"})
    assert response.status_code == 403
