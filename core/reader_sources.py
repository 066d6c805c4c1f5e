"""What forgets a reader's cached pages (core/reader_pages.py): the invalidation sources.

1. ``ReaderPagesMiddleware``: after any request of a signed-in session that is not
   a GET/HEAD (it may have changed anything of theirs), and after any request
   that modified the session (adding to the cart is a GET link, so are login and
   coupon links), the session's reader is forgotten.
2. ``forget_owners``: a save or delete of any row that shows on a reader's pages
   forgets the readers it belongs to (the list below, by model label: core
   imports no app). This covers what others change too: Stripe webhooks,
   the admin, Celery tasks.
3. ``QuerySet.update()``/``bulk_create`` send no signal: the services that use them
   on these models call ``forget_reader`` themselves (grep forget_reader).
4. The catalog generation (core.pagecache) is part of every entry: a new release
   or any catalog change shows at once.
"""

from django.contrib.auth import SESSION_KEY
from django.db.models.signals import post_delete, post_save

from .reader_pages import forget_reader


def _attr(*names):
    return lambda row: [getattr(row, name, None) for name in names]


def _via(relation, *names):
    def owners(row):
        related = getattr(row, relation, None)
        return [getattr(related, name, None) for name in names] if related is not None else []

    return owners


# Model label -> the ids of the users whose pages show that row.
OWNERS = {
    "accounts.User": _attr("pk"),
    "account.EmailAddress": _attr("user_id"),
    "catalog.Author": _attr("user_id"),  # the account page, the header's author links
    "api.ApiKey": _attr("user_id"),
    "webhooks.Endpoint": _via("author", "user_id"),
    "library.Entitlement": _attr("user_id"),
    "library.EreaderAddress": _attr("user_id"),
    "library.ReaderPreference": _attr("user_id"),
    "library.ReadingPosition": _attr("user_id"),
    "library.StampedFile": _attr("user_id"),
    "payments.Order": _attr("buyer_id"),
    "payments.Payment": _attr("buyer_id"),
    "payments.Refund": _via("order", "buyer_id"),
    "payments.CartLine": _attr("owner_id"),
    "payments.CouponRedemption": _attr("reader_id"),
    "payments.Membership": _attr("user_id"),
    "payments.CreditLot": _attr("owner_id"),
    "payments.CreditEntry": _attr("owner_id"),
    "payments.Gift": _attr("buyer_id", "claimed_by_id"),
    "payments.TeamLicence": _attr("manager_id"),
    "payments.Seat": lambda row: [row.holder_id, *_via("licence", "manager_id")(row)],
}


def forget_owners(sender, instance, **kwargs) -> None:
    owners = OWNERS.get(sender._meta.label)
    if owners is None:
        return
    for user_id in set(owners(instance)):
        forget_reader(user_id)


def connect() -> None:
    post_save.connect(forget_owners, dispatch_uid="core.reader_pages.save")
    post_delete.connect(forget_owners, dispatch_uid="core.reader_pages.delete")


class ReaderPagesMiddleware:
    """Forget the session's reader after a request that may have changed their pages.
    Listed right after SessionMiddleware: it sees what every later middleware did to
    the session (messages stored or shown)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and (
            request.method not in ("GET", "HEAD", "OPTIONS") or session.modified
        ):
            # The reader after the request (a login's new one); a logout flushed the
            # session, whose pages no later session key can reach.
            forget_reader(session.get(SESSION_KEY))
        return response
