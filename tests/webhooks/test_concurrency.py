"""Two workers with the same delivery (a redelivered task, the sweep and the
after-commit task together) make one attempt; two resend clicks queue one send."""

import pytest
from django.db import connection

from tests.concurrency import at_once
from tests.conftest import require
from webhooks import delivery, endpoints
from webhooks.models import Attempt, Delivery

from .conftest import add_endpoint, buy

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_workers_sending_one_delivery_make_one_attempt(client, seller, receiver):
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    author, book = seller
    add_endpoint(author, receiver)
    buy(client, book)
    row = Delivery.objects.get()

    results = at_once(
        lambda: delivery.send(row.pk, by="task-a"), lambda: delivery.send(row.pk, by="task-b")
    )

    assert sum(r is not None for r in results) == 1
    assert len(receiver.requests) == 1
    assert Attempt.objects.count() == 1


def test_two_resend_clicks_at_once_queue_one_send(client, seller, receiver):
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    author, book = seller
    add_endpoint(author, receiver)
    buy(client, book)
    row = Delivery.objects.get()
    delivery.send(row.pk)

    results = at_once(
        lambda: endpoints.resend(delivery_id=row.pk), lambda: endpoints.resend(delivery_id=row.pk)
    )

    assert sorted(results) == [False, True]
    delivery.send(row.pk)
    delivery.send(row.pk)
    assert len(receiver.requests) == 2
