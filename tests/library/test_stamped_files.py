"""Buyer-stamped files (social DRM): every owner of a stamped book gets their own copy,
nobody else gets one, a refund takes it away, and a new release is stamped for every
owner exactly once, even when the worker doing it dies half way."""

import io
import uuid
import zipfile
from collections import Counter

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from catalog import services as catalog
from catalog.ebook import BookText, Chapter, build_epub, build_pdf
from catalog.files import private_storage
from library import stamping, tasks
from library.models import Entitlement, StampedFile
from library.tokens import download_token
from payments import refunds
from payments import services as payments
from tests.ebook_checks import assert_epubcheck_passes, pdf_pages_text
from tests.factories import BookFactory, UserFactory

pytestmark = pytest.mark.django_db


def book_files(version: str) -> dict[str, bytes]:
    text = BookText(
        title="Stamped Book",
        subtitle="",
        authors=["An Author"],
        language="en",
        identifier="storefront:stamped-book",
        version=version,
        chapters=[Chapter("One", f"Version {version}, first chapter."), Chapter("Two", "More.")],
    )
    return {"pdf": build_pdf(text), "epub": build_epub(text)}


FILES = {"1.0": book_files("1.0"), "2.0": book_files("2.0")}


def publish(book, version):
    release = catalog.create_release(
        book=book,
        version=version,
        files={fmt: ContentFile(data, name=f"b.{fmt}") for fmt, data in FILES[version].items()},
    )
    release = catalog.publish_release(release=release)
    book.refresh_from_db()
    return release


def buy(user, book):
    order = payments.place_order(
        buyer=user, book=book, amount_cents=2000, checkout_token=uuid.uuid4()
    )
    payments.mark_paid(order_id=order.pk, amount_cents=2000)
    return order


@pytest.fixture
def book():
    book = BookFactory(slug="stamped", title="Stamped Book", stamp_files=True)
    publish(book, "1.0")
    return book


@pytest.fixture
def owner(client, book):
    user = UserFactory(name="Ana Conceição", email="ana@example.com")
    order = buy(user, book)
    user.order = order
    client.force_login(user)
    return user


def download(client, book, fmt="pdf", release_id=None):
    url = reverse("library:download", args=[book.slug, release_id or book.current_release_id, fmt])
    return client.get(url)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def line_for(user) -> str:
    return f"Prepared for {user.name} · {user.email} · order {user.order.public_id}"


def stored_files() -> list[str]:
    books, _ = private_storage.listdir("stamped")
    names = []
    for book_id in books:
        for release_id in private_storage.listdir(f"stamped/{book_id}")[0]:
            names += private_storage.listdir(f"stamped/{book_id}/{release_id}")[1]
    return names


def test_an_owner_downloads_a_pdf_with_their_name_on_every_page(client, owner, book):
    response = download(client, book)

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="stamped-v1.0.pdf"'
    data = body(response)
    assert data != FILES["1.0"]["pdf"]  # never the original
    pages = pdf_pages_text(data)
    assert pages and all(line_for(owner) in " ".join(page.split()) for page in pages)
    assert "Version 1.0, first chapter." in "".join(pages)
    # The second download serves the same copy: nothing stamped twice.
    assert body(download(client, book)) == data
    assert StampedFile.objects.get(format="pdf").status == "ready"


def test_an_owner_downloads_an_epub_with_a_dedication_that_passes_epubcheck(client, owner, book):
    data = body(download(client, book, "epub"))

    assert data != FILES["1.0"]["epub"]
    assert line_for(owner).encode() in _member(data, "OEBPS/prepared-for.xhtml")
    assert str(owner.order.public_id).encode() in _member(data, "OEBPS/content.opf")
    assert_epubcheck_passes(data)


def _member(epub: bytes, name: str) -> bytes:
    return zipfile.ZipFile(io.BytesIO(epub)).read(name)


def test_the_e_mailed_link_serves_the_stamped_copy_too(client, book):
    reader = UserFactory(name="Bo")
    buy(reader, book)
    url = reverse(
        "library:download_link", args=[download_token(user_id=reader.pk, book_id=book.pk), "pdf"]
    )

    data = body(client.get(url))

    assert data != FILES["1.0"]["pdf"]
    assert "Prepared for Bo" in pdf_pages_text(data)[0]


def test_authors_and_staff_get_the_original_and_no_copy_is_made_for_them(client, book):
    client.force_login(book.author_list[0].user)
    assert body(download(client, book)) == FILES["1.0"]["pdf"]
    client.force_login(UserFactory(is_staff=True))
    assert body(download(client, book)) == FILES["1.0"]["pdf"]
    assert not StampedFile.objects.exists()


@pytest.mark.parametrize("who", ["anonymous", "stranger", "refunded"])
def test_other_readers_anonymous_and_refunded_owners_get_no_stamped_file(client, book, who):
    owner = UserFactory()
    buy(owner, book)
    if who == "stranger":
        client.force_login(UserFactory())
    if who == "refunded":
        Entitlement.objects.filter(user=owner).update(revoked_at="2026-01-01T00:00:00Z")
        client.force_login(owner)

    response = download(client, book)

    assert response.status_code in (302, 404)
    assert not getattr(response, "streaming", False)
    assert not StampedFile.objects.exists()
    if who == "refunded":  # nor does a late task make one for them
        assert stamping.stamp_for_reader(user_id=owner.pk, book_id=book.pk) == {"gone": 2}
        assert not StampedFile.objects.exists()


def test_a_purchase_stamps_the_new_owners_copies_right_away(
    book, django_capture_on_commit_callbacks
):
    reader = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        buy(reader, book)

    copies = StampedFile.objects.filter(user=reader)
    assert sorted(c.format for c in copies) == ["epub", "pdf"]
    assert all(c.status == "ready" and private_storage.exists(c.file.name) for c in copies)


def test_a_refund_removes_the_stamped_files(
    client, owner, book, django_capture_on_commit_callbacks
):
    download(client, book)
    download(client, book, "epub")
    names = list(StampedFile.objects.values_list("file", flat=True))
    assert len(names) == 2 and all(private_storage.exists(n) for n in names)

    with django_capture_on_commit_callbacks(execute=True):
        refund = refunds.request_refund(order_id=owner.order.pk, user=owner)
        refunds.execute_refund(refund_id=refund.pk)

    assert not Entitlement.objects.active().filter(user=owner).exists()
    assert not StampedFile.objects.filter(user=owner).exists()
    assert not any(private_storage.exists(n) for n in names)
    assert download(client, book).status_code == 404


def test_a_book_bought_again_after_a_refund_is_stamped_with_the_new_order(
    client, owner, book, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        refund = refunds.request_refund(order_id=owner.order.pk, user=owner)
        refunds.execute_refund(refund_id=refund.pk)
        owner.order = buy(owner, book)

    assert line_for(owner) in " ".join(pdf_pages_text(body(download(client, book)))[0].split())


def test_a_new_release_is_stamped_for_every_owner_exactly_once(
    book, settings, django_capture_on_commit_callbacks
):
    settings.STAMP_CHUNK = 2
    owners = [UserFactory() for _ in range(5)]
    for reader in owners:
        buy(reader, book)
    Entitlement.objects.filter(user=owners[-1]).update(revoked_at="2026-01-01T00:00:00Z")

    with django_capture_on_commit_callbacks(execute=True):
        release = publish(book, "2.0")
    first = dict(StampedFile.objects.filter(release=release).values_list("pk", "file"))
    # The fan-out again (a retried task, a second publish signal): nothing new.
    tasks.restamp_release.delay(release.pk)

    copies = StampedFile.objects.filter(release=release)
    assert Counter((c.user_id, c.format) for c in copies) == {
        (reader.pk, fmt): 1 for reader in owners[:-1] for fmt in ("pdf", "epub")
    }
    assert all(c.status == "ready" for c in copies)
    assert dict(copies.values_list("pk", "file")) == first
    assert len(stored_files()) == 8


class WorkerKilled(BaseException):
    """What the worker's process sees of a SIGKILL: nothing after this line runs."""


def test_a_worker_killed_mid_chunk_resumes_without_duplicates(book, settings, monkeypatch):
    owners = [UserFactory() for _ in range(4)]
    for reader in owners:
        buy(reader, book)
    release = publish(book, "2.0")  # no on-commit here: the fan-out runs by hand below
    user_ids = [reader.pk for reader in owners]
    real_pdf = stamping.STAMPERS["pdf"]
    done = []

    def dies_on_the_third(data, stamp):
        if len(done) == 2:
            raise WorkerKilled
        done.append(stamp)
        return real_pdf(data, stamp)

    monkeypatch.setitem(stamping.STAMPERS, "pdf", dies_on_the_third)
    with pytest.raises(WorkerKilled):
        stamping.stamp_chunk(release.pk, user_ids, task_id="task-1")
    monkeypatch.setitem(stamping.STAMPERS, "pdf", real_pdf)
    states = Counter(StampedFile.objects.filter(release=release).values_list("status", flat=True))
    assert states["stamping"] == 1  # the copy the worker died on is still claimed

    # Another task does not take a live-looking claim away...
    stamping.stamp_chunk(release.pk, user_ids, task_id="task-2")
    assert StampedFile.objects.filter(release=release, status="stamping").count() == 1
    # ...the redelivered task (same id, acks_late) takes its own claim back at once.
    outcomes = stamping.stamp_chunk(release.pk, user_ids, task_id="task-1")

    assert outcomes == {"ready": 1}
    copies = StampedFile.objects.filter(release=release)
    assert copies.count() == 8 and all(c.status == "ready" for c in copies)
    assert len(stored_files()) == 8  # one file per copy, no orphan, no duplicate


def test_a_dead_workers_claim_is_taken_over_once_it_is_stale(book, settings, monkeypatch):
    reader = UserFactory()
    buy(reader, book)
    StampedFile.objects.create(
        release=book.current_release,
        book=book,
        user=reader,
        format="pdf",
        status="stamping",
        claimed_by="dead-task",
        claimed_at="2026-01-01T00:00:00Z",
    )
    assert stamping.stamp_for_reader(user_id=reader.pk, book_id=book.pk) == {"ready": 2}


def test_a_copy_being_stamped_elsewhere_shows_a_preparing_page_that_reloads(
    client, owner, book, settings
):
    StampedFile.objects.create(
        release=book.current_release,
        book=book,
        user=owner,
        format="pdf",
        status="stamping",
        claimed_by="another-worker",
        claimed_at="2100-01-01T00:00:00Z",
    )

    response = download(client, book)

    assert response.status_code == 202
    assert not getattr(response, "streaming", False)
    html = response.content.decode()
    assert '<meta http-equiv="refresh" content="3">' in html
    assert "Preparing your copy" in html
    assert response["Cache-Control"] == "no-store"


def test_a_large_file_is_stamped_by_a_worker_not_in_the_request(
    client, owner, book, settings, monkeypatch
):
    settings.STAMP_INLINE_MAX_BYTES = 0
    queued = []
    monkeypatch.setattr(tasks.stamp_file, "delay", lambda row_id: queued.append(row_id))

    response = download(client, book)

    assert response.status_code == 202 and "Preparing your copy" in response.content.decode()
    row = StampedFile.objects.get(user=owner, format="pdf")
    assert queued == [row.pk] and row.status == "pending"
    tasks.stamp_file(row.pk)  # the worker
    assert pdf_pages_text(body(download(client, book)))


def test_an_unstampable_file_is_an_error_page_never_the_original(client, owner, book):
    release = catalog.create_release(
        book=book,
        version="broken",
        files={"pdf": ContentFile(b"%PDF-1.4 damaged %%EOF", name="b.pdf")},
    )
    catalog.publish_release(release=release)
    book.refresh_from_db()

    response = download(client, book)

    assert response.status_code == 503
    assert "could not prepare your copy" in response.content.decode()
    assert not getattr(response, "streaming", False)


def test_previous_versions_are_stamped_on_demand(client, owner, book):
    first = book.current_release
    publish(book, "2.0")

    data = body(download(client, book, release_id=first.pk))

    text = "".join(pdf_pages_text(data))
    assert "Version 1.0, first chapter." in text and line_for(owner) in " ".join(text.split())


def test_a_book_without_stamping_serves_the_original(client):
    book = BookFactory(stamp_files=False)
    publish(book, "1.0")
    reader = UserFactory()
    buy(reader, book)
    client.force_login(reader)

    assert body(download(client, book)) == FILES["1.0"]["pdf"]
    assert not StampedFile.objects.exists()


def test_the_download_costs_a_flat_number_of_queries(
    client, owner, book, django_assert_max_num_queries
):
    download(client, book)  # stamps
    # The file with its book and the entitlement, the reader's copy; the count's
    # flush (a task, eager here).
    with django_assert_max_num_queries(3):
        assert download(client, book).status_code == 200
