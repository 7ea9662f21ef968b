"""Discount codes (issue #12): the page, the Checkout Session, the fee, the receipt, the
ledger and the CSV show the discount; a 100 % code makes a free order with no Stripe
payment; one use per email; a code of Alice's is "not a valid code" in Mallory's store;
the dashboard pages are the owner's.

Through the stand-in over real HTTP. Alice owns `alice`, Bob buys, Mallory owns `mallory`.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.core import mail
from django.utils import timezone

from catalog.discounts import discount_code_create
from catalog.models import DiscountCode
from payments.models import CodeHold, Purchase
from payments.platform.models import FeeLedgerEntry
from tests.conftest import main_client, store_client
from tests.factories import in_schema, pdf_bytes, product_with_file
from tests.payments.conftest import checkout_session_id, connect_store, post_event

ATTEMPT = "0123456789abcdef0123456789abcdef"


def _code(store, **kwargs) -> DiscountCode:
    kwargs.setdefault("kind", "percent")
    kwargs.setdefault("value", "25")
    with in_schema(store):
        return discount_code_create(**kwargs)


def _buy(store, product, *, code: str = "", email: str = "", attempt: str = ATTEMPT):
    data = {"attempt": attempt, "code": code}
    if email:
        data["email"] = email
    return store_client(store).post(f"/buy/{product.slug}/", data)


def _created_sessions(standin, store) -> list[dict]:
    return [
        r
        for r in standin.requests("/v1/checkout/sessions")
        if r["method"] == "POST"
        and r["params"].get("metadata", {}).get("store") == store.schema_name
    ]


def test_a_percent_code_shows_on_the_page_the_session_the_fee_the_receipt_and_the_csv(
    alice, alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store, price=2000)
    _code(alice_store, code="Spring", value="25")

    page = store_client(alice_store).get(f"/p/{product.slug}/?code=spring").content.decode()
    assert "$15.00" in page and "Code SPRING: −$5.00" in page
    assert 'name="code" value="Spring"' in page  # the Buy form carries it

    response = _buy(alice_store, product, code="sPrInG")
    assert response.status_code == 302
    session_id = checkout_session_id(response)
    created = _created_sessions(standin, alice_store)[-1]["params"]
    item = created["line_items"]["0"] if "0" in created["line_items"] else created["line_items"][0]
    assert int(item["price_data"]["unit_amount"]) == 1500
    assert "code SPRING: −$5.00" in item["price_data"]["product_data"]["name"]
    # The fee is on what the buyer pays: 5 % of 15.00 + 0.30, not of 20.00.
    assert int(created["payment_intent_data"]["application_fee_amount"]) == 105

    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com"})
    account = alice_store.stripe_account.stripe_account_id
    for event in standin.events(account=account):
        with django_capture_on_commit_callbacks(execute=True):
            assert post_event(main_client(), standin.event_payload(event)).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        thanks = store_client(alice_store).get(f"/thanks/?session_id={session_id}")
    assert "code SPRING: −$5.00" in thanks.content.decode()

    with in_schema(alice_store):
        purchase = Purchase.objects.get(checkout_session_id=session_id)
        assert (purchase.amount, purchase.discount, purchase.platform_fee) == (1500, 500, 105)
        assert purchase.code.code == "Spring"
        assert DiscountCode.objects.get().uses == 1
    ledger = FeeLedgerEntry.objects.get(checkout_session_id=session_id)
    assert (ledger.amount, ledger.platform_fee, ledger.discount_code, ledger.discount) == (
        1500,
        105,
        "SPRING",
        500,
    )
    receipt = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    assert "Discount (code SPRING): -$5.00" in receipt.body
    assert "Amount paid: $15.00" in receipt.body
    assert "code SPRING" in receipt.alternatives[0][0]
    notice = next(m for m in mail.outbox if m.to == ["alice@example.com"])
    assert "$15.00 (code SPRING: -$5.00)" in notice.body

    owner = store_client(alice_store, alice)
    csv_text = b"".join(owner.get("/dashboard/sales.csv").streaming_content).decode()
    assert csv_text.splitlines()[1].endswith(
        ",SPRING,5.00,0.00,0.00,0.00,,"
    )  # nothing refunded, no tax
    assert "code SPRING −$5.00" in owner.get("/dashboard/sales/").content.decode()


def test_a_fixed_code_is_in_its_currency_and_never_below_stripes_minimum(alice_store, standin):
    connect_store(alice_store, standin)
    usd = product_with_file(alice_store, price=1000)
    eur = product_with_file(alice_store, price=1000, currency="eur")
    _code(alice_store, code="TENOFF", kind="fixed", value="3.50", currency="usd")
    _code(alice_store, code="ALMOST", kind="fixed", value="9.80", currency="usd")

    assert "$6.50" in store_client(alice_store).get(f"/p/{usd.slug}/?code=tenoff").content.decode()
    page = store_client(alice_store).get(f"/p/{eur.slug}/?code=TENOFF").content.decode()
    assert "This code does not apply to this product." in page
    refused = _buy(alice_store, usd, code="ALMOST")
    assert refused.status_code == 409
    assert "below $0.50" in refused.content.decode()
    assert not _created_sessions(standin, alice_store)


def test_codes_that_are_unknown_expired_early_chosen_elsewhere_or_off_say_so(
    alice, alice_store, standin
):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store)
    other = product_with_file(alice_store, title="Other")
    now = timezone.now()
    _code(
        alice_store,
        code="OLD",
        ends_at=now - timedelta(minutes=1),
        starts_at=now - timedelta(days=2),
    )
    _code(alice_store, code="SOON", starts_at=now + timedelta(days=1))
    _code(alice_store, code="ONLYOTHER", product_uids=[str(other.uid)])
    off = _code(alice_store, code="OFF")
    owner = store_client(alice_store, alice)
    assert owner.post(f"/dashboard/codes/{off.uid}/deactivate/").status_code == 302

    for code, message in [
        ("NOPE", "That is not a valid code."),
        ("<script>", "That is not a valid code."),
        ("OLD", "This code has expired."),
        ("SOON", "This code is not valid yet."),
        ("ONLYOTHER", "This code does not apply to this product."),
        ("OFF", "That is not a valid code."),
    ]:
        page = store_client(alice_store).get(f"/p/{product.slug}/", {"code": code})
        assert page.status_code == 200 and message in page.content.decode(), code
        refused = _buy(alice_store, product, code=code)
        assert refused.status_code == 409 and message in refused.content.decode(), code
    assert not _created_sessions(standin, alice_store)
    chosen = store_client(alice_store).get(f"/p/{other.slug}/?code=onlyother").content.decode()
    assert "$9.00" in chosen and "Code ONLYOTHER: −$3.00" in chosen


def test_alices_code_is_not_a_valid_code_in_mallorys_store(alice_store, mallory_store, standin):
    connect_store(mallory_store, standin)
    _code(alice_store, code="ALICE50", value="50")
    product = product_with_file(mallory_store)
    page = store_client(mallory_store).get(f"/p/{product.slug}/?code=ALICE50").content.decode()
    assert "That is not a valid code." in page and "ALICE50:" not in page
    refused = _buy(mallory_store, product, code="alice50")
    assert refused.status_code == 409 and "That is not a valid code." in refused.content.decode()
    assert not _created_sessions(standin, mallory_store)


def test_a_100_percent_code_makes_one_free_order_with_no_stripe_payment(
    alice_store, standin, django_capture_on_commit_callbacks
):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store, price=1500)
    _code(alice_store, code="GIFT", value="100")
    page = store_client(alice_store).get(f"/p/{product.slug}/?code=gift").content.decode()
    assert "Get it free" in page and 'type="email"' in page
    before = len(standin.requests("/v1/"))

    assert _buy(alice_store, product, code="gift").status_code == 409  # no email, no order
    with django_capture_on_commit_callbacks(execute=True):
        response = _buy(alice_store, product, code="gift", email="Bob@Example.com")
    assert response.status_code == 302 and response["Location"].startswith("/thanks/?order=")
    again = _buy(alice_store, product, code="gift", email="bob@example.com")  # a double click
    assert again["Location"] == response["Location"]
    assert len(standin.requests("/v1/")) == before  # Stripe never heard of it

    with in_schema(alice_store):
        purchase = Purchase.objects.prefetch_related("grants").get()
        assert (purchase.amount, purchase.platform_fee, purchase.discount) == (0, 0, 1500)
        assert purchase.buyer_email == "bob@example.com" and purchase.payment_intent_id is None
        assert purchase.grant is not None
        assert DiscountCode.objects.get().uses == 1
    ledger = FeeLedgerEntry.objects.get(purchase_uid=purchase.uid)
    assert (ledger.amount, ledger.platform_fee, ledger.discount_code) == (0, 0, "GIFT")
    assert FeeLedgerEntry.objects.filter(store=alice_store).count() == 1

    thanks = store_client(alice_store).get(response["Location"])
    url = re.search(r'href="http://alice\.localhost:8000(/d/[^"]+)"', thanks.content.decode())
    body = b"".join(store_client(alice_store).get(url.group(1)).streaming_content)
    assert body == pdf_bytes()
    receipt = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    assert "Amount paid: $0.00" in receipt.body and "/d/" in receipt.body


def test_a_one_use_per_email_code_is_used_once_by_each_email(alice_store, standin):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store, price=1500)
    _code(alice_store, code="ONCE", value="100", once_per_email=True)
    _code(alice_store, code="HALF", value="50", once_per_email=True)

    assert _buy(alice_store, product, code="ONCE", email="bob@example.com").status_code == 302
    second = _buy(alice_store, product, code="ONCE", email="BOB@example.com", attempt="a" * 32)
    assert second.status_code == 409 and "once per buyer" in second.content.decode()
    assert (
        _buy(
            alice_store, product, code="ONCE", email="carol@example.com", attempt="b" * 32
        ).status_code
        == 302
    )

    # A paid one-per-email code: Stripe's page gets the email, locked, and the use is held.
    paid = _buy(alice_store, product, code="HALF", email="dan@example.com", attempt="c" * 32)
    assert paid.status_code == 302
    created = _created_sessions(standin, alice_store)[-1]["params"]
    assert created["customer_email"] == "dan@example.com"
    again = _buy(alice_store, product, code="HALF", email="dan@example.com", attempt="d" * 32)
    assert again.status_code == 409 and "once per buyer" in again.content.decode()
    with in_schema(alice_store):
        assert CodeHold.objects.filter(email="dan@example.com").count() == 1


def test_a_limited_code_gives_its_last_use_once_and_frees_it_when_a_hold_lapses(
    alice_store, standin
):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store)
    _code(alice_store, code="TWO", value="10", max_uses=2)
    first = checkout_session_id(_buy(alice_store, product, code="TWO", attempt="1" * 32))
    # The same click again reuses its hold and its session (no second payable session).
    assert checkout_session_id(_buy(alice_store, product, code="TWO", attempt="1" * 32)) == first
    assert _buy(alice_store, product, code="TWO", attempt="2" * 32).status_code == 302
    used_up = _buy(alice_store, product, code="TWO", attempt="3" * 32)
    assert used_up.status_code == 409 and "used up" in used_up.content.decode()
    with in_schema(alice_store):
        assert CodeHold.objects.count() == 2
        CodeHold.objects.filter(attempt="1" * 32).update(expires_at=timezone.now())
    assert _buy(alice_store, product, code="TWO", attempt="3" * 32).status_code == 302


def test_the_codes_dashboard_is_the_owners(alice, alice_store, mallory):
    owner = store_client(alice_store, alice)
    form = {"code": "Summer-24", "kind": "percent", "value": "15", "currency": "", "max_uses": "3"}
    assert owner.post("/dashboard/codes/new/", form).status_code == 302
    duplicate = owner.post("/dashboard/codes/new/", {**form, "code": "SUMMER-24"})
    assert duplicate.status_code == 400 and "already has this code" in duplicate.content.decode()
    junk = owner.post("/dashboard/codes/new/", {**form, "code": "NEW", "value": "150"})
    assert junk.status_code == 400 and "from 1 to 100" in junk.content.decode()
    listing = owner.get("/dashboard/codes/").content.decode()
    assert "SUMMER-24" in listing and "15% off" in listing and "0 / 3" in listing

    with in_schema(alice_store):
        code = DiscountCode.objects.get()
    intruder = store_client(alice_store, mallory)
    assert intruder.get("/dashboard/codes/").status_code == 403
    assert intruder.post("/dashboard/codes/new/", {**form, "code": "MINE"}).status_code == 403
    assert intruder.post(f"/dashboard/codes/{code.uid}/deactivate/").status_code == 403
    assert store_client(alice_store).get("/dashboard/codes/").status_code == 302
    with in_schema(alice_store):
        assert DiscountCode.objects.get().active and DiscountCode.objects.count() == 1


def test_the_consoles_ledger_csv_has_the_code_and_the_discount(alice_store, standin, db):
    import csv
    import io

    from sellers.models import User

    connect_store(alice_store, standin)
    product = product_with_file(alice_store, price=1500)
    _code(alice_store, code="GIFT", value="100")
    assert _buy(alice_store, product, code="GIFT", email="bob@example.com").status_code == 302
    olivia = User.objects.create_superuser("olivia@example.com", "correct-horse-battery-staple")
    body = b"".join(main_client(olivia).get("/console/fees.csv").streaming_content).decode()
    row = next(csv.DictReader(io.StringIO(body)))
    assert (row["amount"], row["platform_fee"], row["discount_code"], row["discount"]) == (
        "0.00",
        "0.00",
        "GIFT",
        "15.00",
    )


def test_free_orders_are_rate_limited_per_email_and_lose_nothing(alice_store, standin):
    from payments.views import FREE_ORDERS_PER_EMAIL

    connect_store(alice_store, standin)
    product = product_with_file(alice_store)
    _code(alice_store, code="GIFT", value="100")
    for n in range(FREE_ORDERS_PER_EMAIL):
        made = _buy(alice_store, product, code="GIFT", email="eve@example.com", attempt=f"{n:032x}")
        assert made.status_code == 302
    refused = _buy(alice_store, product, code="GIFT", email="eve@example.com", attempt="e" * 32)
    assert refused.status_code == 429 and "Too many free orders" in refused.content.decode()
    with in_schema(alice_store):
        assert Purchase.objects.count() == FREE_ORDERS_PER_EMAIL
        assert DiscountCode.objects.get().uses == FREE_ORDERS_PER_EMAIL


def test_a_checkout_stripe_fails_keeps_its_hold_for_the_retried_click(alice_store, standin):
    connect_store(alice_store, standin)
    product = product_with_file(alice_store)
    _code(alice_store, code="ONE", value="10", max_uses=1)
    standin.call("POST", "/faults", {"mode": "500", "count": 1, "path_prefix": "/v1/checkout"})
    failed = _buy(alice_store, product, code="ONE", attempt="1" * 32)
    assert failed.status_code == 503 and 'name="code" value="ONE"' in failed.content.decode()
    assert _buy(alice_store, product, code="ONE", attempt="1" * 32).status_code == 302
    other = _buy(alice_store, product, code="ONE", attempt="2" * 32)
    assert other.status_code == 409 and "used up" in other.content.decode()
    with in_schema(alice_store):
        assert CodeHold.objects.count() == 1
