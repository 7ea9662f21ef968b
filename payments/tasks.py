"""Payments work done off the request: emails, stamping, reconciliation.

Tasks take ids and call services; each is safe to run twice (acks_late redelivers a
task whose worker died).
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django_tenants.utils import schema_context

from config import metrics
from tenants.models import Store

from .models import Purchase

logger = logging.getLogger(__name__)


def _store() -> Store:
    """The store whose schema this task runs in (tenant-schemas-celery set it)."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Store) and tenant.pk:
        return tenant
    return Store.objects.get(schema_name=connection.schema_name)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_receipt(purchase_id: int) -> bool:
    from .services import download_url_for

    with transaction.atomic():
        purchase = (
            Purchase.objects.select_for_update(of=("self",))
            .select_related("product", "grant")
            .get(pk=purchase_id)
        )
        if purchase.receipt_sent_at:
            return False
        store = _store()
        context = {
            "purchase": purchase,
            "store": store,
            "download_url": download_url_for(purchase, store=store),
        }
        send_mail(
            subject=f"Your receipt from {store.name}: {purchase.product.title}",
            message=render_to_string("payments/email/receipt.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[purchase.buyer_email],
            html_message=render_to_string("payments/email/receipt.html", context),
        )
        purchase.receipt_sent_at = timezone.now()
        purchase.save(update_fields=["receipt_sent_at"])
    return True


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_seller(purchase_id: int) -> bool:
    store = _store()
    with transaction.atomic():
        purchase = (
            Purchase.objects.select_for_update().select_related("product").get(pk=purchase_id)
        )
        if purchase.seller_notified_at or not store.notify_on_sale or store.owner_id is None:
            return False
        owner_email = store.owner.email
        send_mail(
            subject=f"New sale: {purchase.product.title} ({purchase.amount_display})",
            message=render_to_string(
                "payments/email/sale.txt", {"purchase": purchase, "store": store}
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[owner_email],
        )
        purchase.seller_notified_at = timezone.now()
        purchase.save(update_fields=["seller_notified_at"])
    return True


@shared_task(acks_late=True)
def resend_receipt(purchase_id: int) -> bool:
    Purchase.objects.filter(pk=purchase_id).update(receipt_sent_at=None)
    return send_receipt(purchase_id)


@shared_task(acks_late=True)
def stamp_purchase(purchase_id: int) -> str:
    from .stamping import stamped_copy_make

    return stamped_copy_make(purchase_id=purchase_id)


@shared_task
def reconcile_store(lookback_hours: int = 72) -> int:
    """Checkout Sessions completed at Stripe with no purchase here get one."""
    from payments.platform.services import connected_account_for

    from . import services, stripe_client

    store = _store()
    account = connected_account_for(store)
    if account is None or account.deauthorized_at:
        return 0
    since = int(time.time()) - lookback_hours * 3600
    made = 0
    for session in stripe_client.checkout_sessions_completed_since(
        account_id=account.stripe_account_id, since=since
    ):
        if not session.is_paid or session.metadata.get("store") != store.schema_name:
            continue
        if Purchase.objects.filter(checkout_session_id=session.id).exists():
            continue
        try:
            _, created = services.purchase_fulfil(store=store, session=session)
        except services.NotOurs:
            continue
        made += int(created)
    if made:
        logger.warning("Reconciliation created %s purchases in %s", made, store.schema_name)
    return made


@shared_task
def reconcile_all_stores() -> int:
    """Beat: queue reconciliation in every store with a connected account."""
    schemas = list(
        Store.objects.stores()
        .filter(stripe_account__deauthorized_at__isnull=True, stripe_account__isnull=False)
        .values_list("schema_name", flat=True)
    )
    for schema in schemas:
        with schema_context(schema):
            reconcile_store.delay()
    metrics.reconciliation_recorded(stores=len(schemas))
    return len(schemas)
