"""Free updates: a new release e-mails every opted-in owner once, through a real worker."""

from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import services as catalog
from core.models import EmailDelivery
from library.announcements import queue_chunk
from library.models import Entitlement, ReaderPreference
from library.tasks import announce_release
from tests.conftest import require
from tests.factories import BookFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

User = get_user_model()


def owners(book, n, prefix):
    users = User.objects.bulk_create(
        User(email=f"{prefix}{i}@example.com", password="!", name=f"Reader {i}") for i in range(n)
    )
    if not users[0].pk:  # SQLite before 3.35 returns no ids from bulk_create
        users = list(User.objects.filter(email__startswith=prefix).order_by("pk"))
    now = timezone.now()
    Entitlement.objects.bulk_create(Entitlement(user=u, book=book, granted_at=now) for u in users)
    return users


def release(book, version):
    new = catalog.create_release(
        book=book,
        version=version,
        notes="What changed.",
        files={"pdf": ContentFile(b"%PDF-1.4 %%EOF", name="b.pdf")},
    )
    return new


def test_two_thousand_owners_get_exactly_one_email_each(smtp_server, start_celery_worker):
    book = BookFactory(title="Big Book")
    readers = owners(book, 2000, "owner")
    per_book_out = readers[:100]
    everything_out = readers[100:150]
    Entitlement.objects.filter(user__in=per_book_out).update(notify_updates=False)
    ReaderPreference.objects.bulk_create(
        ReaderPreference(user=u, new_version_emails=False) for u in everything_out
    )
    expected = {u.email for u in readers[150:]}
    worker = start_celery_worker(pool="threads", concurrency=8)

    new = release(book, "2.0")
    catalog.publish_release(release=new)  # commits, then the signal enqueues the fan-out

    smtp_server.wait_for(len(expected), timeout=120)
    # Publishing again and a retried fan-out task add nothing.
    catalog.publish_release(release=new)
    worker.task_outcome(announce_release.delay(new.pk).id, timeout=60)
    barrier = announce_release.delay(new.pk).id
    worker.task_outcome(barrier, timeout=60)

    received = Counter(address for m in smtp_server.messages for address in m.recipients)
    assert set(received) == expected
    assert set(received.values()) == {1}
    assert EmailDelivery.objects.filter(status="sent").count() == len(expected)
    sample = smtp_server.messages_to("owner1999@example.com")[0]
    assert sample.subject == "New version of Big Book: 2.0"
    assert sample.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_chunk_costs_the_same_queries_whatever_its_size():
    # SQLite splits a bulk insert into batches by its variable limit; PostgreSQL does not.
    require(connection.vendor == "postgresql", "query counts per chunk are measured on PostgreSQL")
    book = BookFactory()
    small, large = owners(book, 10, "small"), owners(book, 300, "large")
    new = release(book, "1.0")
    catalog.publish_release(release=new)
    EmailDelivery.objects.all().delete()  # count only what queue_chunk does below

    counts = []
    for group in (small, large):
        with CaptureQueriesContext(connection) as queries:
            queue_chunk(new.pk, [u.pk for u in group])
        counts.append(len(queries))

    assert counts[0] == counts[1], counts
    assert EmailDelivery.objects.count() == 310
