"""A real receiver on loopback gets signed messages after a demo purchase,
retries after failures, and one effect per message however often it arrives."""

import itertools
import json
import random
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.models import EmailDelivery
from webhooks import delivery, endpoints, signing, tasks
from webhooks.models import Attempt, Delivery, Endpoint, Event, EventType

from .conftest import add_endpoint, buy

pytestmark = pytest.mark.django_db(transaction=True)


def the_delivery() -> Delivery:
    return Delivery.objects.get()


def test_a_demo_purchase_reaches_the_receiver_signed_with_the_sale(client, seller, receiver):
    author, book = seller
    add_endpoint(author, receiver)

    order, _ = buy(client, book, "19.99")
    assert tasks.send_due_webhooks() == 1  # what beat's sweep (or a worker) does

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert all(request["verified"].values())
    assert request["headers"]["webhook-id"].startswith("msg_")
    body = json.loads(request["body"])
    assert body["type"] == "sale.completed"
    assert body["id"].startswith("evt_")
    assert body["data"]["order_id"] == str(order.public_id)
    assert body["data"]["amount_cents"] == 1999
    assert body["data"]["royalty_cents"] == 1599  # 80% of $19.99, from the ledger
    assert body["data"]["book"]["slug"] == "hooked"
    row = the_delivery()
    assert row.status == Delivery.Status.SUCCEEDED
    assert row.attempts == 1
    assert row.last_status_code == 200


def test_a_receiver_holding_another_secret_cannot_verify_the_message(client, seller, receiver):
    author, book = seller
    add_endpoint(author, receiver)
    receiver.secrets.append(signing.new_secret())  # someone else's secret
    buy(client, book)
    tasks.send_due_webhooks()
    verified = receiver.requests[0]["verified"]
    assert list(verified.values()) == [True, False]  # its own secret only


def test_it_retries_after_two_500s_and_the_receiver_acts_once(client, seller, receiver):
    author, book = seller
    add_endpoint(author, receiver)
    receiver.statuses = [500, 500]
    buy(client, book)
    row = the_delivery()

    first = delivery.send(row.pk)
    row.refresh_from_db()
    assert first.status_code == 500
    assert row.status == Delivery.Status.PENDING
    assert row.next_attempt_at > first.at
    assert delivery.send(row.pk) is None  # not due yet: a replayed task changes nothing

    delivery.send(row.pk, now=row.next_attempt_at)
    row.refresh_from_db()
    delivery.send(row.pk, now=row.next_attempt_at)
    row.refresh_from_db()

    assert [r["status"] for r in receiver.requests] == [500, 500, 200]
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    assert len({r["body"] for r in receiver.requests}) == 1  # the same message each time
    assert all(all(r["verified"].values()) for r in receiver.requests)
    assert row.status == Delivery.Status.SUCCEEDED
    assert list(row.attempt_log.values_list("number", "status_code")) == [
        (1, 500),
        (2, 500),
        (3, 200),
    ]
    assert "maintenance" in row.attempt_log.first().response_excerpt
    assert delivery.send(row.pk, now=timezone.now() + timedelta(days=1)) is None  # done
    assert len(receiver.effects) == 1


def test_a_resent_message_is_the_same_message_so_the_receiver_acts_once(client, seller, receiver):
    author, book = seller
    add_endpoint(author, receiver)
    buy(client, book)
    tasks.send_due_webhooks()
    row = the_delivery()

    assert endpoints.resend(delivery_id=row.pk) is True
    assert endpoints.resend(delivery_id=row.pk) is False  # a double click queues one send
    tasks.send_due_webhooks()
    tasks.send_due_webhooks()

    assert len(receiver.requests) == 2
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    assert len(receiver.effects) == 1
    row.refresh_from_db()
    assert row.status == Delivery.Status.SUCCEEDED
    assert row.attempts == 2


def test_a_second_notice_of_the_same_sale_adds_no_event(client, seller, receiver):
    from payments.services import mark_paid

    author, book = seller
    add_endpoint(author, receiver)
    order, _ = buy(client, book)
    assert mark_paid(order_id=order.pk, amount_cents=order.amount_cents) is False  # a replay
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 1


def test_backoff_doubles_with_jitter_and_is_capped(settings):
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 30
    settings.WEBHOOKS_RETRY_MAX_SECONDS = 6 * 3600
    low = random.Random()
    low.uniform = lambda a, b: a
    high = random.Random()
    high.uniform = lambda a, b: b
    assert [delivery.backoff_seconds(n, rng=high) for n in range(1, 6)] == [30, 60, 120, 240, 480]
    assert [delivery.backoff_seconds(n, rng=low) for n in range(1, 6)] == [15, 30, 60, 120, 240]
    assert delivery.backoff_seconds(30, rng=high) == 6 * 3600
    spread = {round(delivery.backoff_seconds(4), 3) for _ in range(20)}
    assert len(spread) > 1 and all(120 <= s <= 240 for s in spread)


def test_retries_stop_after_three_days_and_the_endpoint_is_disabled_and_its_author_emailed(
    client, seller, receiver
):
    author, book = seller
    endpoint = add_endpoint(author, receiver)
    receiver.statuses = [500] * 100
    buy(client, book)
    row = the_delivery()
    start = timezone.now()

    schedule = []
    now = start
    while row.status == Delivery.Status.PENDING:
        attempt = delivery.send(row.pk, now=now)
        assert attempt is not None
        row.refresh_from_db()
        schedule.append(now - start)
        now = row.next_attempt_at or now
    assert schedule[-1] <= timedelta(days=3)
    assert schedule[-1] > timedelta(days=2)  # it kept trying for (nearly) three days
    gaps = [b - a for a, b in itertools.pairwise(schedule)]
    assert gaps[1] > gaps[0]  # backing off
    assert max(gaps) <= timedelta(hours=6)
    assert row.status == Delivery.Status.FAILED

    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert "no successful delivery" in endpoint.disabled_reason
    notice = EmailDelivery.objects.get(key__startswith=f"webhook-disabled:endpoint-{endpoint.pk}")
    assert notice.to == author.user.email
    assert endpoint.url in notice.body and endpoint.url in notice.html
    assert f"/author/webhooks/{endpoint.pk}/" in notice.body
    assert any(endpoint.url in m.subject for m in mail.outbox)

    # Disabled: a new sale sends it nothing.
    buy(client, book)
    assert Delivery.objects.count() == 1
    assert tasks.send_due_webhooks() == 0
    # Enabled again (it works now): new sales reach it, the author resends what failed,
    # and is e-mailed again only if it fails for another three days.
    receiver.statuses = []
    endpoints.set_enabled(endpoint_id=endpoint.pk, enabled=True)
    buy(client, book)
    assert endpoints.resend(delivery_id=row.pk)
    assert tasks.send_due_webhooks() == 2
    assert [r["status"] for r in receiver.requests][-2:] == [200, 200]
    assert EmailDelivery.objects.filter(key__startswith="webhook-disabled").count() == 1


def test_an_endpoint_failing_for_three_days_is_disabled_at_its_next_failure(
    client, seller, receiver
):
    author, book = seller
    endpoint = add_endpoint(author, receiver)
    receiver.statuses = [500] * 10
    buy(client, book)
    delivery.send(the_delivery().pk)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failing_since is not None

    Endpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now() - timedelta(days=3, minutes=1)
    )
    buy(client, book)
    second = Delivery.objects.exclude(attempts=1).get()
    delivery.send(second.pk)
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert EmailDelivery.objects.filter(key__startswith="webhook-disabled").count() == 1


def test_a_success_clears_the_failing_mark(client, seller, receiver):
    author, book = seller
    endpoint = add_endpoint(author, receiver)
    receiver.statuses = [500]
    buy(client, book)
    row = the_delivery()
    delivery.send(row.pk)
    row.refresh_from_db()
    delivery.send(row.pk, now=row.next_attempt_at)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_during_a_rotation_both_secrets_sign_and_then_only_the_new_one(client, seller, receiver):
    author, book = seller
    endpoint = add_endpoint(author, receiver)
    old = endpoint.secret
    endpoint = endpoints.rotate_secret(endpoint_id=endpoint.pk)
    receiver.secrets = [old, endpoint.secret]
    buy(client, book)
    tasks.send_due_webhooks()
    assert receiver.requests[0]["verified"] == {old: True, endpoint.secret: True}
    assert len(receiver.requests[0]["headers"]["webhook-signature"].split(" ")) == 2

    Endpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_until=timezone.now() - timedelta(seconds=1)
    )
    buy(client, book)
    tasks.send_due_webhooks()
    assert receiver.requests[1]["verified"] == {old: False, endpoint.secret: True}


def test_a_stale_claim_of_a_dead_worker_is_taken_over(client, seller, receiver):
    author, book = seller
    add_endpoint(author, receiver)
    buy(client, book)
    row = the_delivery()
    Delivery.objects.filter(pk=row.pk).update(
        claimed_at=timezone.now() - timedelta(minutes=1), claimed_by="task-a"
    )
    assert delivery.send(row.pk, by="task-b") is None  # task-a may still be sending
    assert delivery.send(row.pk, by="task-a").succeeded  # its own redelivery takes over
    assert Attempt.objects.count() == 1


def test_only_the_events_an_endpoint_picked_reach_it(client, seller, receiver):
    author, book = seller
    add_endpoint(author, receiver, event_types=[EventType.PAYOUT_SENT])
    buy(client, book)
    assert Event.objects.count() == 0
    assert tasks.send_due_webhooks() == 0
