"""Receipts never wait behind bulk work: a buyer's stamped copies are made on the bulk
queue (storefront/celery.py), so a launch's receipts go out while thousands of copies
wait for a worker, and a worker on that queue makes every copy afterwards."""

import uuid

import pytest
from django.core.files.base import ContentFile

from catalog import services as catalog
from library.models import StampedFile
from payments import services
from storefront.celery import bulk_queue, route_task
from tests.catalog.test_stamp import three_hundred_pages
from tests.factories import BookFactory, UserFactory
from tests.services.conftest import wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_the_stamping_tasks_go_to_the_bulk_queue_and_the_rest_to_the_default_one(celery_queue):
    bulk = {"queue": bulk_queue(celery_queue)}
    for name in ("stamp_for_reader", "restamp_release", "stamp_chunk"):
        assert route_task(f"library.tasks.{name}", (), {}, {}) == bulk
    # A reader waiting on "preparing your copy" is not bulk work, nor are e-mails.
    for name in ("library.tasks.stamp_file", "core.tasks.deliver_email"):
        assert route_task(name, (), {}, {}) is None


def test_receipts_go_out_while_the_copies_wait_for_a_bulk_worker(
    smtp_server, start_celery_worker, celery_queue, tmp_path
):
    book = BookFactory(title="Stamped Launch", stamp_files=True, minimum_price_cents=500)
    release = catalog.create_release(
        book=book, version="1.0", files={"pdf": ContentFile(three_hundred_pages(), name="b.pdf")}
    )
    catalog.publish_release(release=release)
    env = {"VAR_DIR": str(tmp_path)}  # the test's private storage
    start_celery_worker(env=env, queues=[celery_queue])  # receipts only

    buyers = [UserFactory(email=f"launch{i}@example.com") for i in range(3)]
    for buyer in buyers:
        order = services.place_order(
            buyer=buyer, book=book, amount_cents=900, checkout_token=uuid.uuid4()
        )
        assert services.mark_paid(order_id=order.pk, amount_cents=900) is True

    received = smtp_server.wait_for(3, timeout=30)
    assert sorted(m.recipients[0] for m in received) == [b.email for b in buyers]
    copies = StampedFile.objects.filter(release=release, user__in=buyers, status="ready")
    assert copies.count() == 0  # queued on the bulk queue, which nobody consumes yet

    start_celery_worker(env=env, queues=[bulk_queue(celery_queue)])
    wait_until(lambda: copies.count() == 3, timeout=60, message="every buyer's stamped copy")
    assert len(smtp_server.messages) == 3  # the bulk worker sent nothing more
