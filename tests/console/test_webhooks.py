"""/console/webhooks/: the Stripe event inbox, failures first, with replay."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.models import AuditEntry
from payments.platform.models import ConnectedAccount, StripeEvent
from tests.conftest import main_client

from .conftest import stripe_event


def test_failures_come_first_each_with_its_error(olivia):
    stripe_event(status="done")
    failed = stripe_event(status="failed", event_type="charge.refunded", error="KeyError: 'charge'")
    stripe_event(status="done")
    response = main_client(olivia).get("/console/webhooks/")
    events = list(response.context["page"].object_list)
    assert events[0] == failed
    assert "KeyError: &#x27;charge&#x27;" in response.content.decode()
    assert response.context["counts"] == {"pending": 0, "done": 2, "failed": 1, "ignored": 0}


def test_it_filters_by_status_and_type(olivia):
    stripe_event(status="failed", event_type="charge.refunded", error="x")
    stripe_event(status="failed", event_type="account.updated", error="y")
    stripe_event(status="done", event_type="account.updated")
    client = main_client(olivia)
    page = client.get(
        "/console/webhooks/", {"status": "failed", "type": "account.updated"}
    ).context["page"]
    assert [(e.status, e.type) for e in page.object_list] == [("failed", "account.updated")]
    junk = client.get("/console/webhooks/", {"status": "exploded"})
    assert "Unknown status" in junk.content.decode()
    assert junk.context["page"].paginator.count == 3


def test_retrying_a_failed_event_queues_it_and_records_it(
    olivia, alice_store, django_capture_on_commit_callbacks
):
    ConnectedAccount.objects.create(store=alice_store, stripe_account_id="acct_alice")
    event = stripe_event(status="failed", error="Timeout", account="acct_alice")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = main_client(olivia).post(f"/console/webhooks/{event.pk}/retry/")
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.status == StripeEvent.Status.PENDING
    assert len(queued) == 1  # process_event, once the retry commits
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.store, entry.actor) == ("event.retry", alice_store, olivia)
    assert entry.before["status"] == "failed" and entry.before["last_error"] == "Timeout"
    assert entry.after == {"status": "pending"}


def test_a_processed_event_is_not_retried(olivia):
    event = stripe_event(status="done")
    response = main_client(olivia).post(f"/console/webhooks/{event.pk}/retry/", follow=True)
    assert "Only failed or stuck events can be retried" in response.content.decode()
    event.refresh_from_db()
    assert event.status == StripeEvent.Status.DONE
    assert not AuditEntry.objects.exists()


def test_retry_all_failed_queues_every_failure_with_one_audit_entry(
    olivia, django_capture_on_commit_callbacks
):
    failed = [stripe_event(status="failed", error="boom") for _ in range(3)]
    done = stripe_event(status="done")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = main_client(olivia).post(
            "/console/webhooks/retry-failed/", {"next": "/console/webhooks/?status=failed"}
        )
    assert response["Location"] == "/console/webhooks/?status=failed"
    assert len(queued) == 3
    assert set(StripeEvent.objects.filter(status="pending").values_list("pk", flat=True)) == {
        e.pk for e in failed
    }
    done.refresh_from_db()
    assert done.status == "done"
    entry = AuditEntry.objects.get()
    assert entry.action == "events.retry_failed"
    assert entry.after["count"] == 3
    assert sorted(entry.after["event_ids"]) == sorted(e.event_id for e in failed)


def test_retry_all_with_nothing_failed_changes_nothing(olivia):
    stripe_event(status="done")
    response = main_client(olivia).post("/console/webhooks/retry-failed/", follow=True)
    assert "No failed events to retry" in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_a_retry_never_redirects_off_the_console(olivia):
    event = stripe_event(status="failed", error="x")
    response = main_client(olivia).post(
        f"/console/webhooks/{event.pk}/retry/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == "/console/webhooks/"


def test_the_inbox_costs_the_same_queries_for_3_events_as_for_300(olivia):
    client = main_client(olivia)
    for _ in range(3):
        stripe_event(status="failed", error="x")
    client.get("/console/webhooks/")
    with CaptureQueriesContext(connection) as few:
        client.get("/console/webhooks/")
    StripeEvent.objects.bulk_create(
        [
            StripeEvent(event_id=f"evt_bulk_{i}", type=f"type.{i % 7}", payload={}, status="done")
            for i in range(300)
        ]
    )
    with CaptureQueriesContext(connection) as many:
        client.get("/console/webhooks/", {"page": "3"})
    assert len(many) == len(few)


def test_an_ignored_event_is_shown_as_ignored_not_as_an_error(olivia):
    from tests.markup import parse

    stripe_event(
        status="ignored", event_type="charge.succeeded", error="No handler for charge.succeeded."
    )
    failed = stripe_event(status="failed", event_type="charge.refunded", error="KeyError: 'charge'")
    elements = parse(main_client(olivia).get("/console/webhooks/").content)
    rows = [e for e in elements if e.tag == "tr" and any(i.tag == "code" for i in e.inner)]
    by_type = {next(i.text for i in r.inner if i.tag == "code"): r for r in rows}

    def cell(row, label):
        return next(i for i in row.inner if i.tag == "td" and i.attrs.get("data-label") == label)

    ignored = by_type["charge.succeeded"]
    assert "row-failed" not in ignored.classes
    status = cell(ignored, "Status")
    badge = next(i for i in status.inner if "badge" in i.classes)
    assert badge.text == "Ignored" and "ignored" in badge.classes and "failed" not in badge.classes
    assert "No handler for charge.succeeded." in status.text
    # The Error column (whose summaries are red) stays empty for it.
    error = cell(ignored, "Error")
    assert not [i for i in error.inner if i.tag in ("details", "summary")]
    assert error.text.strip() == "—"
    # A failure still shows its error, in red, under Error.
    failure = by_type[failed.type]
    assert "row-failed" in failure.classes
    assert "KeyError" in next(i for i in cell(failure, "Error").inner if i.tag == "summary").text
