"""Celery tasks of payments: load by id, call one service."""

import logging
from datetime import UTC, timedelta

from celery import shared_task
from django.utils import timezone

from . import gift_delivery, membership_billing, payouts, reconciliation, refunds, services
from .gateways import GatewayError

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def create_monthly_payouts():
    """Celery beat, the 1st of each month (UTC): this month's batch, once."""
    run = payouts.run_payouts()
    if run.nothing_new:
        log.info("payouts %s: already made, nothing new", run.batch.period)
    return len(run.created)


@shared_task(acks_late=True)
def expire_stale_orders():
    return services.expire_stale_orders()


@shared_task(acks_late=True)
def retry_failed_refunds():
    """Celery beat, every 15 minutes: refunds a gateway failure left retryable."""
    return refunds.retry_failed_refunds()


@shared_task(acks_late=True)
def renew_memberships():
    """Celery beat, hourly: local (demo) memberships whose period ended renew or end."""
    return membership_billing.renew_due()


@shared_task(acks_late=True, autoretry_for=(GatewayError,), retry_backoff=300, max_retries=6)
def reconcile_gateways():
    """Celery beat, daily: yesterday (UTC) against the gateways; each difference is
    logged as an error for a person to look at."""
    end = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    reports = reconciliation.reconcile(end - timedelta(days=1), end)
    differences = [d for report in reports for d in report.differences]
    for difference in differences:
        log.error("reconciliation of %s: %s", (end - timedelta(days=1)).date(), difference)
    return len(differences)


@shared_task(acks_late=True)
def deliver_gift(gift_id: int):
    """Queued for a gift's day after its payment: delivers it if still due (once)."""
    return gift_delivery.deliver(gift_id)


@shared_task(acks_late=True)
def deliver_due_gifts():
    """Celery beat, every 5 minutes: gifts whose day came and no task delivered
    (a day beyond the task horizon, a lost task, a restarted worker)."""
    return sum(gift_delivery.deliver(gift_id) for gift_id in gift_delivery.due_gift_ids())
