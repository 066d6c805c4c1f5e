"""A real Celery worker re-stamps a new release for every owner, is SIGKILLed half way,
and the next worker finishes it: every owner's copy exactly once."""

import os
import signal
import time
import uuid
from collections import Counter

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from catalog import services as catalog
from catalog.files import private_storage
from library.models import Entitlement, StampedFile
from tests.catalog.test_stamp import three_hundred_pages
from tests.factories import BookFactory, UserFactory
from tests.services.conftest import wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

OWNERS = 30


def release(book, version, pdf):
    return catalog.create_release(
        book=book, version=version, files={"pdf": ContentFile(pdf, name="b.pdf")}
    )


def test_a_worker_killed_mid_restamp_is_resumed_with_no_copy_twice(start_celery_worker, tmp_path):
    pdf = three_hundred_pages()  # ~0.1 s a copy: the kill lands in the middle
    book = BookFactory(title="Kill Switch", stamp_files=True)
    catalog.publish_release(release=release(book, "1.0", pdf))
    readers = [UserFactory() for _ in range(OWNERS)]
    Entitlement.objects.bulk_create(
        Entitlement(user=r, book=book, granted_at=timezone.now(), order_ref=uuid.uuid4())
        for r in readers
    )
    env = {"VAR_DIR": str(tmp_path), "STAMP_CHUNK": "5"}  # the test's private storage
    first = start_celery_worker(env=env)

    new = release(book, "2.0", pdf)
    catalog.publish_release(release=new)  # on commit: restamp_release -> the worker

    ready = StampedFile.objects.filter(release=new, status="ready")
    wait_until(lambda: ready.count() >= 6, timeout=60, message="a few copies stamped")
    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    at_kill = ready.count()
    assert at_kill < OWNERS, "the worker finished before it was killed: nothing was tested"

    # Redis redelivers the dead worker's unacknowledged chunk after the visibility timeout.
    start_celery_worker(env={**env, "CELERY_VISIBILITY_TIMEOUT": "2"})
    wait_until(lambda: ready.count() == OWNERS, timeout=120, message="every owner's copy")
    time.sleep(0.5)  # a duplicate would still be on its way

    copies = StampedFile.objects.filter(release=new)
    assert Counter(copies.values_list("user_id", "format")) == {(r.pk, "pdf"): 1 for r in readers}
    names = list(copies.values_list("file", flat=True))
    assert len(set(names)) == OWNERS and all(private_storage.exists(n) for n in names)
    on_disk = private_storage.listdir(f"stamped/{book.pk}/{new.pk}")[1]
    # At most the one copy the killed worker was writing is left over, never served.
    assert OWNERS <= len(on_disk) <= OWNERS + 1
