"""No delivery on the request path: a sale with a dead endpoint completes at once,
and its message leaves after commit, through Celery."""

import socket

import pytest

from payments.models import Order
from webhooks import tasks, transport
from webhooks.models import Delivery

from .conftest import add_endpoint, buy

pytestmark = pytest.mark.django_db(transaction=True)


def dead_url() -> str:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone"


@pytest.fixture
def posts(monkeypatch):
    """Every HTTP attempt a webhook makes, recorded (and still made)."""
    made = []
    real = transport.post

    def recording(*args, **kwargs):
        made.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(transport, "post", recording)
    return made


@pytest.fixture
def with_a_broker(monkeypatch):
    """Celery as in production (not eager): record what is published instead of a broker."""
    published = []
    app = tasks.send_delivery.app
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    monkeypatch.setattr(tasks.send_delivery, "delay", lambda *args: published.append(args))
    monkeypatch.setattr(
        tasks.send_delivery,
        "apply_async",
        lambda args, countdown=None: published.append((*args, countdown)),
    )
    return published


def test_a_sale_with_a_dead_endpoint_completes_without_a_delivery_attempt(
    client, seller, receiver, posts, with_a_broker
):
    author, book = seller
    endpoint = add_endpoint(author, receiver)
    endpoint.url = dead_url()
    endpoint.save()

    order, response = buy(client, book)

    assert response.status_code == 302
    assert order.status == Order.Status.PAID
    assert posts == []  # nothing was sent inside the request
    row = Delivery.objects.get()
    assert with_a_broker == [(row.pk,)]  # handed to Celery after commit, once
    assert row.attempts == 0

    # The worker's attempt fails quickly and is scheduled again; the sale is untouched.
    assert tasks.send_delivery.run(row.pk) == "failed"
    row.refresh_from_db()
    # A retry due in seconds goes back to the broker with a countdown.
    assert with_a_broker[-1][0] == row.pk and 0 < with_a_broker[-1][1] <= 30
    assert len(posts) == 1
    assert row.status == Delivery.Status.PENDING and row.next_attempt_at is not None
    assert "ConnectionRefused" in row.attempt_log.get().error
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_without_a_broker_nothing_is_sent_in_the_request_and_the_sweep_sends_it(
    client, seller, receiver, posts
):
    """Eager Celery (make run, tests) would run a task inside the request: the
    message waits for the sweep instead."""
    author, book = seller
    add_endpoint(author, receiver)
    buy(client, book)
    assert posts == [] and receiver.requests == []
    assert tasks.send_due_webhooks() == 1
    assert len(receiver.requests) == 1


def test_a_broker_refusing_after_commit_leaves_the_sale_paid_and_the_message_due(
    client, seller, receiver, monkeypatch
):
    author, book = seller
    add_endpoint(author, receiver)
    with monkeypatch.context() as broker_down:
        broker_down.setitem(tasks.send_delivery.app.conf, "task_always_eager", False)

        def refuse(*args):
            raise ConnectionError("broker down")

        broker_down.setattr(tasks.send_delivery, "delay", refuse)
        order, response = buy(client, book)
    assert response.status_code == 302 and order.status == Order.Status.PAID
    assert receiver.requests == []
    assert tasks.send_due_webhooks() == 1  # beat's sweep finds it
    assert len(receiver.requests) == 1
