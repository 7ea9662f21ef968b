"""A webhook handler waiting on Stripe holds no row lock and no open transaction (#10).

The stand-in stalls the session lookup the handler makes; while the live worker is caught
inside that call, this test takes the event's row lock itself with NOWAIT and looks for a
transaction left open by the worker. Then Stripe answers and the event completes once.
"""

from __future__ import annotations

from django.db import connection, transaction
from django_tenants.utils import schema_context

from payments.models import Purchase
from payments.platform.models import StripeEvent
from tests.live import unique
from tests.reliability.conftest import (
    live_store_with_product,
    paid_sessions,
    standin_call,
    wait_until,
)


def test_a_handler_waiting_on_stripe_holds_no_lock_and_no_transaction(
    stack, stack_settings, committed
):
    store, product = live_store_with_product(stack, price=1500)
    account = store.stripe_account.stripe_account_id
    standin_call(stack, "POST", "/config", {"deliver": False})
    (session_id,) = paid_sessions(stack, store, product, [f"{unique('bob')}@example.com"])
    (event,) = standin_call(
        stack, "GET", f"/events?account={account}&type=checkout.session.completed"
    )["data"]
    standin_call(stack, "POST", "/faults", {"mode": "timeout", "after": "execute", "seconds": 6,
                                            "count": 1, "path_prefix": "/v1/checkout/sessions/cs_"})  # fmt: skip
    assert standin_call(stack, "POST", f"/events/{event['id']}/deliver")["status_code"] == 200

    def stalled():
        lookups = standin_call(stack, "GET", "/requests?path_prefix=/v1/checkout/sessions/cs_")
        return [r for r in lookups["data"] if r["fault"] == "timeout"]

    wait_until(stalled, timeout=30, what="the worker to be inside a Stripe call")
    row = StripeEvent.objects.get(event_id=event["id"])
    with transaction.atomic():
        # Raises "could not obtain lock" if the worker kept the row locked.
        locked = StripeEvent.objects.select_for_update(nowait=True).get(pk=row.pk)
        assert locked.status == StripeEvent.Status.PENDING
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] == 0

    def settled():
        return StripeEvent.objects.filter(pk=row.pk, status=StripeEvent.Status.DONE).exists()

    wait_until(settled, timeout=60, what="the event to be processed")
    with schema_context(store.schema_name):
        assert Purchase.objects.filter(checkout_session_id=session_id).count() == 1
    assert StripeEvent.objects.get(pk=row.pk).attempts == 1
