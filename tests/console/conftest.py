"""The console's cast, on top of tests/conftest.py: Olivia the operator is a superuser;
Sam is staff (he may use parts of /admin/) but not a superuser, so the console does not
exist for him."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from payments.platform.models import ConnectedAccount, FeeLedgerEntry, StripeEvent
from tenants.models import Store
from tests.conftest import make_seller, make_user


@pytest.fixture
def olivia(db):
    return make_user("olivia@example.com", superuser=True)


@pytest.fixture
def sam(db):
    user = make_seller("sam@example.com")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def ledger_row(
    store: Store,
    *,
    amount: int = 1200,
    fee: int = 90,
    currency: str = "usd",
    status: str = "paid",
    created_at: datetime | None = None,
    title: str = "Field Guide",
) -> FeeLedgerEntry:
    """An unsaved ledger row, as payments writes one per purchase."""
    return FeeLedgerEntry(
        store=store,
        checkout_session_id=f"cs_test_{uuid.uuid4().hex}",
        payment_intent_id=f"pi_{uuid.uuid4().hex[:24]}",
        purchase_uid=uuid.uuid4(),
        product_title=title,
        amount=amount,
        platform_fee=fee,
        currency=currency,
        fee_percent=Decimal("5.00"),
        fee_fixed=30,
        status=status,
        created_at=created_at or timezone.now(),
    )


def bulk_stores(count: int, *, prefix: str = "bulk") -> list[Store]:
    """Store rows without schemas, fast: bulk_create skips Store.save (no schema, no
    domain). Good for list pages, which never enter a store's schema."""
    from sellers.models import User

    owners = User.objects.bulk_create(
        [User(email=f"{prefix}{i}@example.com", password="!") for i in range(count)]
    )
    stores = Store.objects.bulk_create(
        [
            Store(
                owner=owner,
                name=f"Bulk Store {i}",
                subdomain=f"{prefix}{i}",
                schema_name=f"st_{prefix}_{i}",
            )
            for i, owner in enumerate(owners)
        ]
    )
    ConnectedAccount.objects.bulk_create(
        [
            ConnectedAccount(
                store=s, stripe_account_id=f"acct_{prefix}{i}", charges_enabled=i % 2 == 0
            )
            for i, s in enumerate(stores)
            if i % 3
        ]
    )
    FeeLedgerEntry.objects.bulk_create(
        [
            ledger_row(s, amount=1000 + i, currency="usd" if i % 4 else "eur")
            for i, s in enumerate(stores)
        ]
        + [ledger_row(s, status="refunded") for s in stores[::5]]
    )
    return stores


def stripe_event(
    *,
    event_type: str = "checkout.session.completed",
    status: str = "done",
    error: str = "",
    account: str = "",
) -> StripeEvent:
    return StripeEvent.objects.create(
        event_id=f"evt_{uuid.uuid4().hex[:20]}",
        type=event_type,
        account_id=account,
        payload={"id": "evt", "type": event_type},
        status=status,
        attempts=1 if status in ("failed", "done") else 0,
        last_error=error,
    )
