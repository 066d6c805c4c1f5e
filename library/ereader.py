"""Send to e-reader: a reader's Kindle (or other e-reader) address, verified by a
6-digit code e-mailed to it, and their books' EPUBs e-mailed there with one click.

Everything goes through the outbox (core.mail): the book is attached when the
e-mail is sent (read from the private storage by the sending task, never copied
into the table). A click is one e-mail: the send form carries a token and the
outbox key holds it, so a double click or a replayed POST finds the row.

The code e-mail also carries the code as a tiny HTML document: a Kindle address
has no inbox to read, but Amazon delivers an attached document to the device,
and only once our address is on the reader's approved senders list, which the
page asks them to do first. So a code that arrives proves the books will too.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from catalog.models import BookFormat, ReleaseFile
from core.mail import queue_templated_email
from core.outbox import attachment

from . import services, stamping
from .models import EreaderAddress, StampedFile


class EreaderError(Exception):
    """Why the action was refused, in words for the reader."""


def _digest(user_id: int, email: str, code: str) -> str:
    return salted_hmac("library.ereader.code", f"{user_id}:{email.lower()}:{code}").hexdigest()


def address_of(user) -> EreaderAddress | None:
    return EreaderAddress.objects.filter(user=user).first()


@transaction.atomic
def save_address(*, user, email: str) -> EreaderAddress:
    """Set (or change) the reader's e-reader address and e-mail it a new code; the
    address is unverified until the code comes back. Re-sending a code is saving
    the same address again."""
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise EreaderError("Enter a valid e-mail address, like name@kindle.com.") from exc
    row, _ = EreaderAddress.objects.select_for_update().get_or_create(
        user=user, defaults={"email": email}
    )
    if row.is_verified and row.email.lower() == email.lower():
        return row  # nothing to verify again
    code = f"{secrets.randbelow(10**6):06d}"
    row.verified_at = None
    row.email = email
    row.code_digest = _digest(user.pk, email, code)
    row.code_expires_at = timezone.now() + timedelta(minutes=settings.EREADER_CODE_MINUTES)
    row.code_attempts = 0
    row.save()
    queue_templated_email(
        key=f"ereader-code:user-{user.pk}:{secrets.token_hex(8)}",
        to=email,
        template="email/ereader_code",
        context={"code": code, "minutes": settings.EREADER_CODE_MINUTES},
        attachments=[
            attachment(
                filename=f"{settings.STORE_NAME} code {code}.html",
                mimetype="text/html",
                content=(
                    f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{settings.STORE_NAME}"
                    f" code {code}</title></head><body><h1>Your code: {code}</h1></body></html>"
                ).encode(),
            )
        ],
    )
    return row


def verify(*, user, code: str) -> EreaderAddress:
    """Check the code typed back. A wrong one counts; after EREADER_CODE_ATTEMPTS
    wrong tries, or once it expired, only a new code can verify the address."""
    row, error = _check_code(user, (code or "").strip())
    if error:  # raised after the commit: the wrong try stays counted
        raise EreaderError(error)
    return row


@transaction.atomic
def _check_code(user, code: str) -> tuple[EreaderAddress | None, str]:
    row = EreaderAddress.objects.select_for_update().filter(user=user).first()
    if row is None:
        return None, "Save your e-reader's address first."
    if row.is_verified and not row.code_digest:
        return row, ""  # verified already (a double click)
    if not row.code_digest or row.code_expires_at is None or row.code_expires_at < timezone.now():
        return row, "This code has expired. Ask for a new one."
    if row.code_attempts >= settings.EREADER_CODE_ATTEMPTS:
        return row, "Too many wrong codes. Ask for a new one."
    if not (len(code) == 6 and code.isdigit()) or not constant_time_compare(
        _digest(user.pk, row.email, code), row.code_digest
    ):
        row.code_attempts += 1
        row.save(update_fields=["code_attempts", "updated_at"])
        left = settings.EREADER_CODE_ATTEMPTS - row.code_attempts
        if left <= 0:
            return row, "Too many wrong codes. Ask for a new one."
        return row, f"That code is not right. {left} tr{'y' if left == 1 else 'ies'} left."
    row.verified_at = timezone.now()
    row.code_digest = ""
    row.code_expires_at = None
    row.save()
    return row, ""


def remove_address(*, user) -> None:
    EreaderAddress.objects.filter(user=user).delete()


def book_file(book) -> ReleaseFile | None:
    """The current version's EPUB (the reader's own stamped copy of it is chosen by
    ``_attached_file`` when the book is stamped for its buyers)."""
    if book.current_release_id is None:
        return None
    return (
        ReleaseFile.objects.select_related("release__book")
        .filter(release_id=book.current_release_id, format=BookFormat.EPUB)
        .first()
    )


def _attached_file(user, book, release_file, entitlement) -> str:
    """The stored file to attach: an owner of a stamped book gets their own stamped
    copy (made now if it is small enough, as a download would), never the original;
    authors and staff, who own no copy, the original."""
    if entitlement is None or not book.stamp_files:
        return release_file.file.name
    copy = stamping.copy_for_download(user=user, release_file=release_file)
    if copy.status != StampedFile.Status.READY:
        raise EreaderError(
            "Your copy of this book is still being prepared. Please try again in a minute."
        )
    return copy.file.name


def send_book(*, user, book, token: str) -> bool:
    """E-mail the book's EPUB to the reader's verified e-reader address, once per
    ``token`` (the send form's). Returns whether this call queued it (False: the
    same click again). EreaderError says why it cannot be sent."""
    if not services.can_download(user, book):
        raise EreaderError("This book is not in your library.")
    row = address_of(user)
    if row is None or not row.is_verified:
        raise EreaderError("Add and verify your e-reader's address first.")
    release_file = book_file(book)
    if release_file is None:
        raise EreaderError("This book has no EPUB to send yet.")
    if release_file.size > settings.EREADER_MAX_BYTES:
        limit = settings.EREADER_MAX_BYTES // (1024 * 1024)
        size = -(-release_file.size // (1024 * 1024))
        raise EreaderError(
            f"This EPUB is {size} MB; e-reader mail services take files up to {limit} MB. "
            "Download it and copy it to your e-reader instead."
        )
    release = release_file.release
    entitlement = services.reader_entitlement(user, book.pk)
    stored_name = _attached_file(user, book, release_file, entitlement)
    _, created = queue_templated_email(
        key=f"ereader-send:user-{user.pk}:file-{release_file.pk}:{token}",
        to=row.email,
        template="email/ereader_book",
        context={"book": book, "release": release},
        attachments=[
            attachment(
                filename=f"{book.slug}-v{release.version}.epub",
                mimetype="application/epub+zip",
                storage="private",
                name=stored_name,
            )
        ],
    )
    if created:
        services.record_download(user=user, release_file=release_file, entitlement=entitlement)
    return created
