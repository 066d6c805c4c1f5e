"""Signed tokens in e-mailed links: downloads (expiring) and unsubscribes."""

from django.conf import settings
from django.core import signing

DOWNLOAD_SALT = "library.download"
UNSUBSCRIBE_SALT = "library.unsubscribe"


class BadToken(Exception):
    pass


def download_token(*, user_id: int, book_id: int) -> str:
    return signing.dumps([user_id, book_id], salt=DOWNLOAD_SALT)


def read_download_token(token: str) -> tuple[int, int]:
    """(user_id, book_id) of a valid token; BadToken if tampered or expired."""
    try:
        user_id, book_id = signing.loads(
            token, salt=DOWNLOAD_SALT, max_age=settings.DOWNLOAD_LINK_MAX_AGE
        )
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise BadToken from exc
    return int(user_id), int(book_id)


def unsubscribe_token(*, user_id: int, book_id: int | None) -> str:
    """For one book's new-version e-mails, or all of them (book_id None). Does not expire:
    an unsubscribe link in an old e-mail must still work."""
    return signing.dumps([user_id, book_id], salt=UNSUBSCRIBE_SALT)


def read_unsubscribe_token(token: str) -> tuple[int, int | None]:
    try:
        user_id, book_id = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise BadToken from exc
    return int(user_id), (int(book_id) if book_id is not None else None)
