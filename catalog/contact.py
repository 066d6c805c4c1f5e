"""E-mail the author: a reader's message reaches an author through the outbox.

Decisions (docs/architecture.md "E-mail the author"):
- Only signed-in readers with a verified address may write: a block needs an
  account to hold on to, and the author's reply goes to that address.
- The author's address is never shown: the page posts a message, the store
  e-mails it. The message carries ``Reply-To: <the sender>``, so the author
  sees the sender's address and may answer from their own mailbox (the form
  says so); the sender learns the author's address only if the author replies.
- Refused, with the reason: the author turned messages off, or blocked the sender.
- Each message is one outbox row keyed by the form's token: a double click or a
  resubmitted form sends one e-mail.
"""

import uuid

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

from core.mail import queue_templated_email

from .models import Author, BlockedSender, Book

BLOCK_SALT = "catalog.contact.block"
MAX_MESSAGE_LENGTH = 4000


class ContactRefused(Exception):
    """The message may not be sent; ``str()`` says why, for the sender."""


def recipients(authors, *, user=None) -> list[Author]:
    """The authors among ``authors`` a reader may write to (not themselves)."""
    user_id = user.pk if user is not None and user.is_authenticated else None
    return [a for a in authors if a.accepts_messages and a.user_id != user_id]


def refusal(*, sender, author: Author) -> str | None:
    """Why ``sender`` may not write to ``author``, or None."""
    if not author.accepts_messages:
        return "This author does not take messages through the store."
    if author.user_id == sender.pk:
        return "You cannot write to yourself."
    if BlockedSender.objects.filter(author=author, user=sender).exists():
        return "This author does not take messages from your account."
    if not EmailAddress.objects.filter(user=sender, email__iexact=sender.email, verified=True):
        return "Verify your e-mail address first: the author's reply goes to it."
    return None


def block_token(*, author: Author, sender) -> str:
    return signing.dumps({"a": author.pk, "u": sender.pk}, salt=BLOCK_SALT)


def read_block_token(token: str) -> tuple[int, int]:
    """(author id, sender id) from a block link; BadSignature if forged."""
    data = signing.loads(token, salt=BLOCK_SALT)
    return int(data["a"]), int(data["u"])


@transaction.atomic
def send_message(
    *, sender, author: Author, message: str, token: uuid.UUID, book: Book | None = None
):
    """Queue the message for ``author``; ContactRefused if they do not take it.
    Returns True if a new e-mail was queued (False: this token's was already)."""
    reason = refusal(sender=sender, author=author)
    if reason:
        raise ContactRefused(reason)
    block_path = reverse(
        "catalog:block_sender", kwargs={"token": block_token(author=author, sender=sender)}
    )
    _delivery, created = queue_templated_email(
        key=f"contact-author:{author.pk}:{sender.pk}:{token}",
        to=author.user.email,
        template="email/contact_author",
        context={
            "author": author,
            "sender_name": sender.get_full_name(),
            "sender_email": sender.email,
            "book": book,
            "message": message,
            "block_url": f"{settings.SITE_URL}{block_path}",
            "settings_url": f"{settings.SITE_URL}{reverse('catalog:author_profile')}",
        },
        headers={"Reply-To": sender.email},
    )
    return created


def block(*, author: Author, user_id: int) -> None:
    BlockedSender.objects.get_or_create(author=author, user_id=user_id)


def unblock(*, author: Author, user_id: int) -> None:
    BlockedSender.objects.filter(author=author, user_id=user_id).delete()
