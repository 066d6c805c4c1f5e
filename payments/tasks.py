"""Celery tasks of payments: load by id, call one service."""

from celery import shared_task

from . import memberships, payouts, services


@shared_task(acks_late=True)
def create_monthly_payouts():
    """Celery beat, monthly: one payout for every author over the threshold."""
    return payouts.create_payout_batch().pk


@shared_task(acks_late=True)
def expire_stale_orders():
    return services.expire_stale_orders()


@shared_task(acks_late=True)
def renew_memberships():
    """Celery beat, hourly: local (demo) memberships whose period ended renew or end."""
    return memberships.renew_due()
