"""A Celery worker SIGKILLed in the middle of a task: no warm shutdown, no ack, no chance
to clean up. Tasks are acknowledged late, so the broker gives the message to the next
worker once the visibility timeout passes; every task must be safe to run again.

The worker is caught mid-task deterministically, never by sleeping and hoping: the
stand-in stalls a Stripe call, the original PDF is a FIFO nobody writes to, or the test
holds the row lock the task needs next.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings
from django_tenants.utils import schema_context
from pypdf import PdfReader

from payments.models import Purchase, StampedCopy
from payments.platform.models import FeeLedgerEntry, StripeEvent
from payments.services import download_token_for
from tests.live import unique
from tests.reliability.conftest import (
    VISIBILITY_TIMEOUT,
    live_store_with_product,
    paid_sessions,
    standin_call,
    wait_until,
)

N = 5


def _task_ids(log: str, task: str, outcome: str) -> set[str]:
    return set(re.findall(rf"Task {re.escape(task)}\[([0-9a-f-]+)\] {outcome}", log))


def _unfinished(log: str, task: str) -> set[str]:
    """Tasks a worker took but never finished."""
    return _task_ids(log, task, "received") - _task_ids(log, task, "succeeded")


def _receipts_for(stack, uid) -> list[Path]:
    mail = stack.artifacts / "mail"
    return [p for p in mail.glob("*.log") if f"Order: {uid}" in p.read_text(errors="replace")]


def _wait_out_the_visibility_timeout(killed_at: float) -> None:
    time.sleep(max(0.0, killed_at + VISIBILITY_TIMEOUT + 0.5 - time.monotonic()))


def test_a_worker_killed_mid_webhook_leaves_every_event_processed_exactly_once(
    stack, stack_settings, committed
):
    store, product = live_store_with_product(stack, price=1500)
    account = store.stripe_account.stripe_account_id
    standin_call(stack, "POST", "/config", {"deliver": False})  # we choose when events arrive
    emails = [f"buyer{i}-{unique('')}@example.com" for i in range(N)]
    sessions = paid_sessions(stack, store, product, emails)
    events = standin_call(
        stack, "GET", f"/events?account={account}&type=checkout.session.completed"
    )["data"]
    assert len(events) == N
    event_ids = [e["id"] for e in events]

    # Stripe answers the first session lookup only after 20 s: the worker is caught inside
    # the handler, holding the event's claim (no transaction open).
    standin_call(stack, "POST", "/faults", {"mode": "timeout", "after": "execute", "seconds": 20,
                                            "count": 1, "path_prefix": "/v1/checkout/sessions/cs_"})  # fmt: skip
    for event_id in event_ids:
        assert standin_call(stack, "POST", f"/events/{event_id}/deliver")["status_code"] == 200

    def stalled():
        lookups = standin_call(stack, "GET", "/requests?path_prefix=/v1/checkout/sessions/cs_")
        return [r for r in lookups["data"] if r["fault"] == "timeout"]

    wait_until(stalled, timeout=30, what="the worker to be inside a Stripe call")
    killed_at = stack.kill_worker(stack.worker)
    lost = _unfinished(stack.log("worker"), "payments.webhooks.process_event")
    assert lost

    # The kill released the claim with the connection: nothing half-done, not even the attempt.
    inbox = StripeEvent.objects.filter(event_id__in=event_ids)
    assert sorted(inbox.values_list("status", "attempts")) == [(StripeEvent.Status.PENDING, 0)] * N
    with schema_context(store.schema_name):
        assert not Purchase.objects.exists()

    _wait_out_the_visibility_timeout(killed_at)
    stack.start_worker("worker2")

    def settled():
        with schema_context(store.schema_name):
            receipts = Purchase.objects.filter(receipt_sent_at__isnull=False).count()
        return receipts == N and inbox.filter(status=StripeEvent.Status.DONE).count() == N

    wait_until(settled, timeout=60, what=f"{N} purchases with receipts and every event done")
    time.sleep(1.0)  # anything doubled would show by now

    # The killed task came back through the broker, not through some other path.
    assert lost <= _task_ids(stack.log("worker2"), "payments.webhooks.process_event", "succeeded")
    assert sorted(inbox.values_list("status", "attempts")) == [(StripeEvent.Status.DONE, 1)] * N
    with schema_context(store.schema_name):
        purchases = list(Purchase.objects.all())
    assert sorted(p.checkout_session_id for p in purchases) == sorted(sessions)
    assert sorted(p.buyer_email for p in purchases) == sorted(emails)
    assert sum(p.amount for p in purchases) == N * 1500
    ledger = FeeLedgerEntry.objects.filter(store_id=store.pk)
    assert sorted(ledger.values_list("checkout_session_id", flat=True)) == sorted(sessions)
    for purchase in purchases:
        assert len(_receipts_for(stack, purchase.uid)) == 1, purchase.buyer_email


class _SourceIsAFifo:
    """The original PDF becomes a FIFO: the task blocks reading it until we write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.original = path.read_bytes()
        self.writer: int | None = None

    def arm(self) -> None:
        self.path.unlink()
        os.mkfifo(self.path)

    def sprung(self) -> bool:
        # Opening the write end without blocking succeeds only once a reader has it open;
        # we keep it open (and write nothing), so the reader stays blocked in read().
        try:
            self.writer = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return False
        return True

    def disarm(self) -> None:
        if self.writer is not None:
            os.close(self.writer)
        self.path.unlink()
        self.path.write_bytes(self.original)


class _CopyRowLocked:
    """The test holds the StampedCopy row: the task writes the stamped file, then waits
    for the lock to record it, and is killed there."""

    def __init__(self, store, purchase_id: int) -> None:
        db = settings.DATABASES["default"]
        self.conn = psycopg2.connect(
            dbname=db["NAME"], user=db.get("USER") or "postgres", host=db.get("HOST") or "127.0.0.1",
            port=db.get("PORT") or 5432,
        )  # fmt: skip
        self.schema = store.schema_name
        self.purchase_id = purchase_id

    def arm(self) -> None:
        with self.conn.cursor() as cursor:
            cursor.execute(f'SET search_path TO "{self.schema}"')
            cursor.execute(
                "SELECT id FROM payments_stampedcopy WHERE purchase_id = %s FOR UPDATE",
                [self.purchase_id],
            )
            assert cursor.fetchone() is not None
            self.backend = self.conn.get_backend_pid()

    def sprung(self) -> bool:
        with psycopg2.connect(self.conn.dsn) as probe, probe.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                [self.backend],
            )
            waiting = cursor.fetchone()[0]
        probe.close()
        return waiting > 0

    def disarm(self) -> None:
        self.conn.rollback()
        self.conn.close()


@pytest.mark.parametrize(
    "moment", ["reading_the_original", "between_writing_and_recording_the_copy"]
)
def test_a_worker_killed_mid_stamp_leaves_one_stamped_copy(
    stack, stack_settings, committed, moment
):
    store, product = live_store_with_product(stack, stamping=True)
    email = f"stamp-{unique('')}@example.com"
    standin_call(stack, "POST", "/config", {"deliver": False})
    (session_id,) = paid_sessions(stack, store, product, [email])
    media = stack.artifacts / "media" / "tenants" / store.schema_name

    # No worker while we set the trap: the stamping task waits in the queue.
    stack.worker.terminate()
    stack.worker.wait(timeout=15)
    if moment == "reading_the_original":
        trap = _SourceIsAFifo(media / product.file.name)
        trap.arm()
    # The buyer lands on the thank-you page: the purchase is made, its tasks queued.
    status, _ = _http(stack, store.host, f"/thanks/?session_id={session_id}")
    assert status == 200
    with schema_context(store.schema_name):
        purchase = Purchase.objects.get(checkout_session_id=session_id)
        assert purchase.stamped.state == StampedCopy.State.PENDING
    if moment != "reading_the_original":
        trap = _CopyRowLocked(store, purchase.pk)
        trap.arm()

    worker = stack.start_worker("worker1")
    try:
        wait_until(trap.sprung, timeout=30, what="stamp_purchase to be caught mid-task")
        killed_at = stack.kill_worker(worker)
    finally:
        trap.disarm()
    with schema_context(store.schema_name):
        assert StampedCopy.objects.get(purchase=purchase).state == StampedCopy.State.PENDING

    _wait_out_the_visibility_timeout(killed_at)
    stack.start_worker("worker2")

    def ready():
        with schema_context(store.schema_name):
            return StampedCopy.objects.filter(
                purchase=purchase, state=StampedCopy.State.READY
            ).first()

    copy = wait_until(ready, timeout=60, what="the stamped copy to be ready")
    time.sleep(1.0)
    lost = _unfinished(stack.log("worker1"), "payments.tasks.stamp_purchase")
    assert len(lost) == 1
    assert lost <= _task_ids(stack.log("worker2"), "payments.tasks.stamp_purchase", "succeeded")
    stamped = sorted((media / "stamped").iterdir())
    assert [p.name for p in stamped] == [Path(copy.file.name).name]

    with schema_context(store.schema_name):
        token = download_token_for(
            Purchase.objects.prefetch_related("grants").get(pk=purchase.pk), store=store
        )
    status, body = _http(stack, store.host, f"/d/{token}/")
    assert status == 200 and body.startswith(b"%PDF")
    assert f"Licensed to {email}" in PdfReader(io.BytesIO(body)).pages[0].extract_text()


def _http(stack, host: str, path: str) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", stack.web_port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
