"""E-mail subjects are one line of plain text, whatever a title holds: a reader sees
"Netflix's", never "Netflix&#x27;s", and a title with a line break (written to the
database behind the forms' back) still publishes with every owner's e-mail."""

import pytest

from core.models import EmailDelivery
from core.outbox import plain_subject
from library.models import Entitlement
from tests.factories import BookFactory, UserFactory
from tests.library.test_library import buy, publish

pytestmark = pytest.mark.django_db


def test_a_receipt_subject_is_plain_text_not_html(mailoutbox, django_capture_on_commit_callbacks):
    book = BookFactory(title="Netflix's <Architecture> & more")

    with django_capture_on_commit_callbacks(execute=True):
        buy(UserFactory(), book)

    [receipt] = mailoutbox
    assert receipt.subject == "Your receipt for Netflix's <Architecture> & more"


def test_a_title_with_a_line_break_still_publishes_with_one_one_line_email_per_owner(
    mailoutbox, django_capture_on_commit_callbacks
):
    book = BookFactory(title="Foo\r\nBcc: victim@example.com")
    publish(book, "1.0")
    readers = [UserFactory() for _ in range(3)]
    for reader in readers:
        Entitlement.objects.create(user=reader, book=book, granted_at="2026-01-01T00:00:00Z")

    with django_capture_on_commit_callbacks(execute=True):
        release = publish(book, "2.0")

    book.refresh_from_db()
    assert book.current_release == release and release.is_published
    assert sorted(m.to[0] for m in mailoutbox) == sorted(r.email for r in readers)
    for message in mailoutbox:
        assert message.subject == "New version of Foo Bcc: victim@example.com: 2.0"
        assert message.bcc == [] and "Bcc" not in message.message()
    assert set(EmailDelivery.objects.values_list("status", flat=True)) == {"sent"}


def test_a_stored_subject_with_a_line_break_is_sent_on_one_line(mailoutbox):
    from core.outbox import claim, send_claimed

    delivery = EmailDelivery.objects.create(
        key="old-row", to="reader@example.com", subject="Old\r\nrow", body="Hello"
    )

    send_claimed(claim(delivery.pk))

    assert [m.subject for m in mailoutbox] == ["Old row"]


@pytest.mark.parametrize(
    "text, subject",
    [("a\r\nb", "a b"), ("  a\t\tb \n", "a b"), ("a\u2028b\x85c", "a b c"), ("x" * 400, "x" * 300)],
)
def test_a_subject_is_one_line_of_at_most_300_characters(text, subject):
    assert plain_subject(text) == subject


def test_a_release_published_while_the_broker_refuses_is_announced_later_once(
    mailoutbox, django_capture_on_commit_callbacks, monkeypatch
):
    """Publishing commits first; if the fan-out cannot be queued then (the broker is
    down), the author is not shown an error and beat announces the release later,
    one e-mail per owner however often it runs."""
    from datetime import timedelta

    from django.utils import timezone
    from kombu.exceptions import OperationalError

    from catalog.models import Release
    from library import tasks

    book = BookFactory()
    publish(book, "1.0")
    readers = [UserFactory() for _ in range(2)]
    for reader in readers:
        Entitlement.objects.create(user=reader, book=book, granted_at="2026-01-01T00:00:00Z")

    def broker_down(*args, **kwargs):
        raise OperationalError("Connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(tasks.announce_release, "delay", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            release = publish(book, "2.0")  # no exception reaches the author

    assert release.is_published and mailoutbox == []
    assert tasks.announce_missed_releases() == 0  # too recent: the queue may still start it
    Release.objects.filter(pk=release.pk).update(
        published_at=timezone.now() - timedelta(minutes=11)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.announce_missed_releases() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.announce_missed_releases() == 0

    assert sorted(m.to[0] for m in mailoutbox) == sorted(r.email for r in readers)
