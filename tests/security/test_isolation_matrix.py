"""Every store route, generated from the URL configuration, requested with Alice's
identifiers by everyone who is not Alice: nothing of hers leaks and nothing of hers changes.

The routes come from walking `config.urls_tenants` (and `config.urls_public`), never from a
list typed here; ROUTES only says how to fill each route's parameters. A route added to the
URLconf without an entry in ROUTES fails `test_every_store_route_is_in_the_matrix`, so the
matrix can never silently fall behind the product.

Who asks, and where:

- on Mallory's host, with Alice's real identifiers (uids, slugs, cover key, domain id, download
  and library tokens, thank-you session id, hand-off token): an anonymous visitor, Bob the
  buyer (no account, just his links, and the cookies his visit to Alice's store left), and
  Mallory logged in as the owner of that host;
- on Alice's host: the same three, with the identifiers that are Alice's to keep (dashboard
  routes with her real ids, her draft's slug, forged variants of the bearer tokens).

And in three places (PLACES): the stores' platform subdomains with the platform's session
(production, where the main domain's cookie reaches the subdomains); the subdomains with
sessions opened by the sign-in hand-off (development, and any host the cookie does not
reach); and the stores' verified custom domains — hosts whose DNS their seller controls —
with hand-off sessions. A hand-off session belongs to its host: carried to Alice's host,
Mallory's is an anonymous visitor's.

Alice herself, with the very same identifiers, reaches every route
(`test_alice_reaches_every_route_with_the_same_identifiers`): the refusals in the matrix are
refusals, not typos.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from tenants.decorators import main_site_url
from tests.catalog.pdfs import good_pdf, upload
from tests.conftest import main_client, store_client

from .conftest import BOB, AliceWorld, hand_off, verified_domain

TENANT_URLCONF = "config.urls_tenants"
PUBLIC_URLCONF = "config.urls_public"

OWNER, PUBLIC, BEARER = "owner", "public", "bearer"
REFUSED = {403, 404, 405, 410}


# --- Walking the URLconf -----------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    key: str  # "namespace:name", or the route itself for unnamed routes
    route: str
    converters: dict[str, str]
    module: str


def walk(urlconf: str) -> list[Found]:
    def visit(resolver, prefix: str, namespace: str, converters: dict) -> Iterator[Found]:
        for pattern in resolver.url_patterns:
            found = {**converters, **getattr(pattern.pattern, "converters", {})}
            if isinstance(pattern, URLResolver):
                ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                yield from visit(pattern, prefix + str(pattern.pattern), ns, found)
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                yield Found(
                    key=f"{namespace}{pattern.name}" if pattern.name else route,
                    route=route,
                    converters={k: type(v).__name__ for k, v in found.items()},
                    module=getattr(pattern.callback, "__module__", ""),
                )

    return list(visit(get_resolver(urlconf), "", "", {}))


# --- How to fill each store route ------------------------------------------------------------

Fill = Callable[[AliceWorld], dict[str, Any]]


def _none(w: AliceWorld) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Route:
    kind: str  # owner: dashboard; public: anyone's page; bearer: opened by a token
    params: Fill = _none  # path parameters, Alice's real ones
    query: Fill = _none  # query string, Alice's real ones
    data: Fill = _none  # what a POST carries
    # On Alice's host, strangers use these instead (a draft's slug, a forged token).
    own_host_params: Fill | None = None
    own_host_query: Fill | None = None
    # Statuses allowed on Mallory's host besides the refusals, and why.
    other_host_ok: frozenset[int] = field(default_factory=frozenset)


def _uid(w: AliceWorld) -> dict[str, Any]:
    return {"uid": w.product.uid}


def _sale(w: AliceWorld) -> dict[str, Any]:
    return {"uid": w.purchase.uid}


def _file(w: AliceWorld) -> dict[str, Any]:
    return {"uid": w.product.uid, "slot_uid": w.slot_uid}


def _file_form(w: AliceWorld) -> dict[str, Any]:
    prefix = f"f{w.slot_uid.replace('-', '')[:8]}"
    return {f"{prefix}-name": "Pwned", f"{prefix}-download_limit": "1"}


def _domain(w: AliceWorld) -> dict[str, Any]:
    return {"pk": w.domain.pk}


def _forged(token: str) -> str:
    return token[:-6] + ("A" * 6 if not token.endswith("A" * 6) else "B" * 6)


def _product_form(w: AliceWorld) -> dict[str, Any]:
    return {"title": "Pwned", "description": "x", "price": "1.00", "currency": "usd"}


ROUTES: dict[str, Route] = {
    # Storefront pages: anyone's, but only the host's own store.
    "storefront": Route(PUBLIC),
    "healthz": Route(PUBLIC),
    "robots_txt": Route(PUBLIC),
    "favicon": Route(PUBLIC),
    "catalog:product": Route(
        PUBLIC,
        params=lambda w: {"slug": w.product.slug},
        own_host_params=lambda w: {"slug": w.draft.slug},
    ),
    "catalog:cover": Route(PUBLIC, params=lambda w: {"key": w.cover_key}),
    "catalog:cover_sized": Route(
        PUBLIC, params=lambda w: {"key": w.cover_key, "width": w.product.cover_widths[0]}
    ),
    "catalog:preview": Route(PUBLIC, params=lambda w: {"key": w.preview_key}),
    "catalog:preview_page": Route(PUBLIC, params=lambda w: {"key": w.preview_key, "position": 1}),
    "payments:checkout": Route(
        PUBLIC,
        params=lambda w: {"slug": w.product.slug},
        own_host_params=lambda w: {"slug": w.draft.slug},
        data=lambda w: {"attempt": "0" * 32},
    ),
    "payments:library_request": Route(PUBLIC, data=lambda w: {"email": BOB}),
    # Bearer links: whoever holds the token is let in, on the store that issued it only.
    "payments:download": Route(
        BEARER,
        params=lambda w: {"token": w.download_token},
        own_host_params=lambda w: {"token": _forged(w.download_token)},
    ),
    "payments:library": Route(
        BEARER,
        params=lambda w: {"token": w.library_token},
        own_host_params=lambda w: {"token": _forged(w.library_token)},
    ),
    "payments:unsubscribe": Route(
        BEARER,
        params=lambda w: {"token": w.unsubscribe_token},
        own_host_params=lambda w: {"token": _forged(w.unsubscribe_token)},
    ),
    "payments:thanks": Route(
        BEARER,
        query=lambda w: {"session_id": w.session_id},
        own_host_query=lambda w: {"session_id": w.session_id + "x"},
        # An unknown session is "still waiting for Stripe", with nothing in it.
        other_host_ok=frozenset({200}),
    ),
    "handoff_finish": Route(
        BEARER,
        query=lambda w: {"token": w.handoff_token, "next": "/dashboard/"},
        own_host_query=lambda w: {"token": _forged(w.handoff_token), "next": "/dashboard/"},
    ),
    # The dashboard: the owner only.
    "dashboard": Route(OWNER),
    "store_settings": Route(
        OWNER, data=lambda w: {"name": "Pwned", "accent_color": "#000000", "description": "x"}
    ),
    "store_domain_create": Route(OWNER, data=lambda w: {"domain": w.domain.domain}),
    "store_domain_check": Route(OWNER, params=_domain),
    # Removing a domain that is not hers removes nothing and sends her back to her settings.
    "store_domain_delete": Route(OWNER, params=_domain, other_host_ok=frozenset({302})),
    "catalog_dash:list": Route(OWNER),
    "catalog_dash:create": Route(OWNER, data=_product_form),
    "catalog_dash:price": Route(OWNER, query=lambda w: {"price": "12,50", "currency": "eur"}),
    "catalog_dash:bundle_create": Route(
        OWNER,
        data=lambda w: {
            "title": "Pwned bundle",
            "price": "1.00",
            "currency": "usd",
            "items": [str(w.product.uid), str(w.draft.uid)],
        },
    ),
    "catalog_dash:bundle_items": Route(
        OWNER, params=_uid, data=lambda w: {"items": [str(w.product.uid), str(w.draft.uid)]}
    ),
    "catalog_dash:edit": Route(OWNER, params=_uid, data=_product_form),
    "catalog_dash:replace_file": Route(
        OWNER, params=_uid, data=lambda w: {"file": upload(good_pdf(pages=1), "swap.pdf")}
    ),
    "catalog_dash:download": Route(OWNER, params=_uid),
    "catalog_dash:file_add": Route(
        OWNER,
        params=_uid,
        data=lambda w: {"name": "Pwned", "file": upload(good_pdf(pages=1), "more.pdf")},
    ),
    "catalog_dash:file_update": Route(OWNER, params=_file, data=_file_form),
    "catalog_dash:file_version": Route(
        OWNER,
        params=_file,
        data=lambda w: {
            "file": upload(good_pdf(pages=1), "answers2.pdf"),
            "give_to_past_buyers": "on",
        },
    ),
    "catalog_dash:file_up": Route(OWNER, params=_file),
    "catalog_dash:file_down": Route(OWNER, params=_file),
    "catalog_dash:file_remove": Route(OWNER, params=_file),
    "catalog_dash:file_download": Route(OWNER, params=_file),
    "catalog_dash:preview": Route(OWNER, params=_uid, data=lambda w: {"preview_pages": "1"}),
    "catalog_dash:publish": Route(OWNER, params=_uid),
    "catalog_dash:unpublish": Route(OWNER, params=_uid),
    "catalog_dash:archive": Route(OWNER, params=_uid),
    "catalog_dash:duplicate": Route(OWNER, params=_uid),
    "catalog_dash:delete": Route(OWNER, params=_uid),
    "catalog_codes:list": Route(OWNER),
    "catalog_codes:create": Route(
        OWNER, data=lambda w: {"code": "PWNED", "kind": "percent", "value": "100"}
    ),
    "catalog_codes:deactivate": Route(OWNER, params=lambda w: {"uid": w.code_uid}),
    "payments_dash:stripe": Route(OWNER),
    "payments_dash:stripe_connect": Route(OWNER),
    "payments_dash:stripe_refresh": Route(OWNER),
    "payments_dash:stripe_return": Route(OWNER),
    "payments_dash:sales": Route(OWNER, query=lambda w: {"product": str(w.product.uid)}),
    "payments_dash:sales_csv": Route(OWNER),
    "payments_dash:leak_trace": Route(
        OWNER, data=lambda w: {"file": upload(good_pdf(pages=1), "found.pdf")}
    ),
    "payments_dash:sale_refund": Route(
        OWNER,
        params=_sale,
        data=lambda w: {"amount": "1.00", "reason": "duplicate", "attempt": "matrix-refund-1"},
    ),
    "payments_dash:sale_resend_receipt": Route(OWNER, params=_sale),
    "payments_dash:sale_reset_downloads": Route(OWNER, params=_sale),
}


def _carries_alices_ids(route: Route, world: AliceWorld) -> bool:
    return bool(route.params(world) or route.kind == BEARER)


def _path(key: str, found: Found, params: dict[str, Any]) -> str:
    if key == found.route:  # an unnamed route: its key is its route, without parameters
        return "/" + found.route
    return reverse(key, urlconf=TENANT_URLCONF, kwargs=params or None)


def _tenant_routes() -> dict[str, Found]:
    return {f.key: f for f in walk(TENANT_URLCONF)}


def test_every_store_route_is_in_the_matrix():
    found = _tenant_routes()
    assert len(found) == len(walk(TENANT_URLCONF)), "two store routes share a name"
    missing = sorted(set(found) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(found))
    assert not missing, f"new store routes without an isolation entry in ROUTES: {missing}"
    assert not stale, f"ROUTES names routes the URLconf no longer has: {stale}"


def test_each_route_is_filled_with_exactly_its_parameters(world):
    for key, found in _tenant_routes().items():
        route = ROUTES[key]
        for fill in filter(None, (route.params, route.own_host_params)):
            params = fill(world)
            assert set(params) == set(found.converters), (key, params, found.converters)
            path = _path(key, found, params)
            assert resolve(path, urlconf=TENANT_URLCONF).route == found.route, key


# --- Asking ------------------------------------------------------------------------------------


@dataclass
class Answer:
    key: str
    method: str
    status: int
    location: str
    body: bytes
    headers: str

    def __str__(self) -> str:
        return f"{self.method} {self.key} → {self.status} {self.location}"


def ask(client: Client, world: AliceWorld, key: str, method: str, *, own_host: bool) -> Answer:
    found = _tenant_routes()[key]
    route = ROUTES[key]
    params = (route.own_host_params if own_host and route.own_host_params else route.params)(world)
    query = (route.own_host_query if own_host and route.own_host_query else route.query)(world)
    path = _path(key, found, params)
    if method == "GET":
        response = client.get(path, query)
    else:
        if query:
            path += "?" + urlencode(query)
        response = client.post(path, route.data(world))
    # getvalue() drains a streamed file; the test client closes it when drained.
    body = response.getvalue()
    headers = "\n".join(f"{k}: {v}" for k, v in response.items())
    return Answer(key, method, response.status_code, response.get("Location", ""), body, headers)


def leaks(answer: Answer, forbidden: list[bytes]) -> list[bytes]:
    where = answer.body + answer.headers.encode()
    return [secret for secret in forbidden if secret in where]


def is_login_redirect(answer: Answer) -> bool:
    return answer.status == 302 and answer.location.startswith(main_site_url("/accounts/handoff/"))


SUBDOMAIN, SUBDOMAIN_HANDOFF, CUSTOM_DOMAIN = "subdomain", "subdomain-handoff", "custom-domain"
PLACES = [SUBDOMAIN, SUBDOMAIN_HANDOFF, CUSTOM_DOMAIN]
MALLORY_DOMAIN = "mallory-domain.example"


def host_for(place: str, store, world: AliceWorld) -> str:
    """The host `store` is visited on in this place (verifying its custom domain)."""
    if place != CUSTOM_DOMAIN:
        return store.host
    if store.pk == world.store.pk:
        from tenants.services import domain_verify

        domain = world.domain
        assert domain_verify(domain=domain, txt_lookup=lambda name: [domain.verification_token])
        return domain.domain
    from tenants.models import Domain

    if not Domain.objects.filter(domain=MALLORY_DOMAIN, verified_at__isnull=False).exists():
        verified_domain(store, MALLORY_DOMAIN)
    return MALLORY_DOMAIN


def client_for(who, store, world: AliceWorld, place: str = SUBDOMAIN) -> Client:
    host = host_for(place, store, world)
    if who == "bob":
        # Bob opened his library on Alice's store: he carries her cookies and his links.
        client = Client()
        alice_host = host_for(place, world.store, world)
        assert (
            client.get(f"/library/{world.library_token}/", HTTP_HOST=alice_host).status_code == 200
        )
        client.defaults["HTTP_HOST"] = host
        return client
    if who is None:
        return Client(HTTP_HOST=host)
    if place == SUBDOMAIN:
        return store_client(store, who) if host == store.host else Client(HTTP_HOST=host)
    # Mallory signs in on her own store's host through the hand-off, then carries that
    # browser (its cookies) to `host`.
    from tenants.models import Store

    own = Store.objects.get(owner=who)
    client = hand_off(main_client(who), host_for(place, own, world))
    client.defaults["HTTP_HOST"] = host
    return client


def _ordered_keys() -> list[str]:
    return sorted(ROUTES)


ACTORS = ["anonymous", "bob", "mallory"]


def on_mallorys_host(
    route: Route, answer: Answer, world: AliceWorld, *, mallory: bool
) -> list[str]:
    """What is wrong with this answer, to a request made on Mallory's host."""
    problems = []
    if answer.location and any(
        host in answer.location for host in (world.store.host, world.domain.domain)
    ):
        problems.append("sends the visitor to Alice's store")
    if route.kind == OWNER and not mallory:
        # 405: a GET to an action is turned away before anything runs.
        if not (is_login_redirect(answer) or answer.status == 405):
            problems.append("the dashboard did not ask for a login")
    elif _carries_alices_ids(route, world) and answer.status not in REFUSED | route.other_host_ok:
        problems.append("Alice's identifier was not refused")
    return problems


def on_alices_host(route: Route, answer: Answer, *, mallory: bool) -> list[str]:
    """What is wrong with this answer, to a stranger's request on Alice's host."""
    if route.kind == OWNER:
        ok = answer.status == 403 if mallory else is_login_redirect(answer)
        if not ok and answer.status != 405:
            return [f"{'a 403' if mallory else 'a login redirect'} was expected"]
    elif route.kind == BEARER and answer.status not in REFUSED | route.other_host_ok:
        return ["a forged token was not refused"]
    elif route.own_host_params and answer.status not in REFUSED:
        return ["Alice's draft is not for strangers"]
    return []


def run_matrix(client: Client, world: AliceWorld, *, own_host: bool, mallory: bool) -> list[str]:
    forbidden = world.forbidden_for_strangers() if own_host else world.forbidden_on_other_hosts()
    problems: list[str] = []
    for key in _ordered_keys():
        route = ROUTES[key]
        for method in ("GET", "POST"):
            answer = ask(client, world, key, method, own_host=own_host)
            found = [f"shows {leaks(answer, forbidden)}"] if leaks(answer, forbidden) else []
            errors = ["server error"] if answer.status >= 500 else []
            if own_host:
                wrong = on_alices_host(route, answer, mallory=mallory)
            else:
                wrong = on_mallorys_host(route, answer, world, mallory=mallory)
            problems += [f"{answer}: {what}" for what in errors + found + wrong]
    return problems


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("actor", ACTORS)
def test_on_mallorys_host_nothing_of_alices_is_found(
    actor, place, world, mallory, mallory_store, standin
):
    who = {"anonymous": None, "bob": "bob", "mallory": mallory}[actor]
    client = client_for(who, mallory_store, world, place)
    before = world.snapshot()
    mail.outbox.clear()
    problems = run_matrix(client, world, own_host=False, mallory=who is mallory)
    assert not problems, "\n".join(problems)
    assert world.snapshot() == before
    assert not mail.outbox, [m.to for m in mail.outbox]
    if who is not mallory:
        assert "_auth_user_id" not in client.session, "Alice's hand-off token logged someone in"


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("actor", ACTORS)
def test_on_alices_host_strangers_get_her_shop_window_only(
    actor, place, world, mallory, mallory_store, standin
):
    who = {"anonymous": None, "bob": "bob", "mallory": mallory}[actor]
    client = client_for(who, world.store, world, place)
    before = world.snapshot()
    mail.outbox.clear()
    # Mallory's hand-off session stays on her host: here she is an anonymous visitor.
    signed_in_here = who is mallory and place == SUBDOMAIN
    problems = run_matrix(client, world, own_host=True, mallory=signed_in_here)
    assert not problems, "\n".join(problems)
    assert world.snapshot() == before
    # Asking for Bob's library link on Alice's store mails Bob, and only Bob.
    assert all(m.to == [BOB] for m in mail.outbox), [m.to for m in mail.outbox]
    if who is not mallory:
        assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("place", PLACES)
def test_alice_reaches_every_route_with_the_same_identifiers(place, world, standin):
    """The positive control: every identifier the matrix uses is real, on Alice's host, so
    the refusals above are refusals and not typos — in every place, her custom domain
    and her hand-off sessions included."""
    from .conftest import handoff_token_for

    problems: list[str] = []
    host = host_for(place, world.store, world)
    if host != world.store.host:
        world.handoff_token = handoff_token_for(world.owner, world.store, host=host)

    def reached(answer: Answer) -> bool:
        return (
            answer.status < 500 and answer.status not in REFUSED and not is_login_redirect(answer)
        )

    # Links first, as whoever holds them (a fresh browser each: the hand-off logs in).
    for key in (k for k in _ordered_keys() if ROUTES[k].kind != OWNER):
        client = Client(HTTP_HOST=host)
        answer = ask(client, world, key, "GET", own_host=False)
        if answer.status == 405:
            answer = ask(client, world, key, "POST", own_host=False)
        if not reached(answer):
            problems.append(f"{answer}: the holder of the link was refused")
        if key == "payments:download" and answer.body != world.file_bytes:
            problems.append(f"{answer}: not Alice's file")
        if key == "payments:library" and BOB.encode() not in answer.body:
            problems.append(f"{answer}: not Bob's library")
        if key == "payments:thanks" and world.download_token.encode() not in answer.body:
            problems.append(f"{answer}: no download link")
        if key == "catalog:product" and world.product.title.encode() not in answer.body:
            problems.append(f"{answer}: not Alice's product")
        if key == "catalog:cover" and not answer.body.startswith(b"\x89PNG"):
            problems.append(f"{answer}: not a cover")
        if key == "catalog:cover_sized" and answer.body[8:12] != b"WEBP":
            problems.append(f"{answer}: not a sized cover")
        if key == "catalog:preview" and not answer.body.startswith(b"%PDF-"):
            problems.append(f"{answer}: not a preview")
        if key == "catalog:preview_page" and answer.body[8:12] != b"WEBP":
            problems.append(f"{answer}: not a preview page")
        if key == "handoff_finish" and answer.location != "/dashboard/":
            problems.append(f"{answer}: the hand-off did not sign Alice in")

    # Then the dashboard as Alice: pages, then actions (deleting is refused: there is a sale).
    if place == SUBDOMAIN:
        owner = store_client(world.store, world.owner)
    else:
        owner = hand_off(main_client(world.owner), host)
    owner_keys = [k for k in _ordered_keys() if ROUTES[k].kind == OWNER]
    # Removing her domain last: on her custom domain, nothing answers after it.
    owner_keys.sort(key=lambda k: k == "store_domain_delete")
    for method in ("GET", "POST"):
        for key in owner_keys:
            answer = ask(owner, world, key, method, own_host=False)
            if method == "GET" and answer.status == 405:
                continue  # an action: tried with POST
            if not reached(answer):
                problems.append(f"{answer}: the owner was refused")
    assert not problems, "\n".join(problems)


# --- The main domain -------------------------------------------------------------------------

PUBLIC_ROUTES: dict[str, Fill] = {
    "landing": _none,
    "healthz": _none,
    "robots_txt": _none,
    "favicon": _none,
    "stripe_webhook": _none,
    "stripe_webhook_account": _none,
    "handoff_start": _none,
    "admin_login": _none,
    "sellers:home": _none,
    "sellers:store_create": _none,
    "console:stores": _none,
    "console:store": lambda w: {"pk": w.store.pk},
    "console:store_suspend": lambda w: {"pk": w.store.pk},
    "console:store_restore": lambda w: {"pk": w.store.pk},
    "console:store_fee": lambda w: {"pk": w.store.pk},
    "console:store_impersonate": lambda w: {"pk": w.store.pk},
    "console:fees": _none,
    "console:fees_csv": _none,
    "console:webhooks": _none,
    "console:webhook_retry": lambda w: {"pk": w.event_pk},
    "console:webhooks_retry_failed": _none,
    "console:audit": _none,
    "console:health": _none,
}


def _our_public_routes() -> dict[str, Found]:
    # allauth's and the admin's own routes are theirs to test; ours are everything else.
    return {
        f.key: f for f in walk(PUBLIC_URLCONF) if not f.module.startswith(("allauth.", "django."))
    }


def test_every_main_domain_route_is_in_the_matrix():
    found = _our_public_routes()
    assert set(found) == set(PUBLIC_ROUTES), (
        f"missing: {sorted(set(found) - set(PUBLIC_ROUTES))}, "
        f"stale: {sorted(set(PUBLIC_ROUTES) - set(found))}"
    )


@pytest.fixture
def main_world(world):
    from payments.platform.models import StripeEvent

    event = StripeEvent.objects.create(
        event_id="evt_sec_matrix",
        type="checkout.session.completed",
        account_id="acct_x",
        payload={"id": "evt_sec_matrix"},
        status="failed",
    )
    world.event_pk = event.pk
    return world


@pytest.mark.parametrize("actor", ["anonymous", "alice", "mallory"])
def test_the_console_does_not_exist_for_anyone_but_superusers(actor, main_world, mallory):
    from console.models import AuditEntry

    user = {"anonymous": None, "alice": main_world.owner, "mallory": mallory}[actor]
    client = main_client(user)
    before = main_world.snapshot()
    problems = []
    for key, fill in PUBLIC_ROUTES.items():
        if not key.startswith("console:"):
            continue
        path = reverse(key, urlconf=PUBLIC_URLCONF, kwargs=fill(main_world) or None)
        for method in ("GET", "POST"):
            response = getattr(client, method.lower())(path, {"reason": "x", "fee_percent": "0"})
            if response.status_code != 404 or response.has_header("Location"):
                problems.append(f"{method} {path} → {response.status_code}")
    assert not problems, "\n".join(problems)
    assert main_world.snapshot() == before
    assert not AuditEntry.objects.exists()


def test_a_superuser_reaches_every_console_route_with_the_same_identifiers(main_world):
    """The control for the test above: the console is there, at those very addresses."""
    from sellers.models import User

    client = main_client(User.objects.create_superuser("olivia@example.com", "x" * 20))
    for key, fill in PUBLIC_ROUTES.items():
        if key.startswith("console:"):
            path = reverse(key, urlconf=PUBLIC_URLCONF, kwargs=fill(main_world) or None)
            assert client.get(path).status_code in (200, 405), path  # 405: an action


@pytest.mark.parametrize("actor", ["anonymous", "mallory"])
def test_main_domain_pages_show_nothing_of_alices(actor, main_world, mallory, standin):
    client = main_client({"anonymous": None, "mallory": mallory}[actor])
    forbidden = main_world.forbidden_for_strangers()
    problems = []
    for key, fill in PUBLIC_ROUTES.items():
        path = reverse(key, urlconf=PUBLIC_URLCONF, kwargs=fill(main_world) or None)
        for method in ("GET", "POST"):
            response = getattr(client, method.lower())(path)
            body = response.getvalue() + str(response.items()).encode()
            if response.status_code >= 500:
                problems.append(f"{method} {path} → {response.status_code}")
            if found := [s for s in forbidden if s in body]:
                problems.append(f"{method} {path} shows {found}")
    assert not problems, "\n".join(problems)


def test_mallory_gets_no_hand_off_token_for_alices_store(world, mallory):
    response = main_client(mallory).get(
        "/accounts/handoff/", {"next": f"http://{world.store.host}/dashboard/"}
    )
    assert response.status_code == 403 and "Location" not in response
    assert b"token=" not in response.content
