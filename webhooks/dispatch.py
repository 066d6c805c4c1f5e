"""Hand deliveries to Celery after commit, never on the request path.

With a broker each new delivery is one ``send_delivery`` task, published after
commit (robust: a broker that refuses leaves the row due, and the
``send_due_webhooks`` sweep sends it). Without one (eager Celery: ``make run``,
the tests) a task would run inside the request that made the sale, so nothing is
sent here: the sweep (beat, or ``manage.py send_webhooks``) sends due rows."""

from django.db import transaction

from .tasks import send_delivery


def send_after_commit(delivery_ids: list[int]) -> None:
    if delivery_ids:
        transaction.on_commit(lambda: _publish(delivery_ids), robust=True)


def _publish(delivery_ids: list[int]) -> None:
    if send_delivery.app.conf.task_always_eager:
        return
    for delivery_id in delivery_ids:
        send_delivery.delay(delivery_id)
