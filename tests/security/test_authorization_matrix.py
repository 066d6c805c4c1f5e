"""Who may open what: every view of ours, for every kind of visitor.

The matrix is checked against the URL conf: a new view without a row here
fails ``test_every_view_is_in_the_matrix``, so nobody adds a page without
saying who may see it.
"""

import uuid

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.login_links import make_token
from api import keys
from catalog import bundles, contact, invitations, manuscript
from catalog import services as catalog
from catalog.models import Build
from library.epub_text import read_chapters
from library.tokens import download_token, unsubscribe_token
from payments import bundle_purchases, cart_payments, gifts, team_licences
from payments import services as payments
from tests.factories import AuthorFactory, BookFactory, UserFactory, listed_bundle
from tests.library.reading import FIRST, IMAGES, epub_of
from webhooks.models import Delivery, Endpoint, Event
from webhooks.signing import new_secret

pytestmark = pytest.mark.django_db

# A release readers can read online, with an image a chapter shows.
EPUB = epub_of(FIRST, images=IMAGES)
IMAGE_PATH = read_chapters(EPUB)[1].html.split('src="../files/')[1].split('"')[0]

PERSONAS = ["anonymous", "reader", "other_reader", "author", "other_author", "staff"]
OK, LOGIN, DENY = "ok", "login", "deny"

EVERYONE = dict.fromkeys(PERSONAS, OK)
LOGGED_IN = {**EVERYONE, "anonymous": LOGIN}
BOOK_AUTHOR = {
    "anonymous": LOGIN,
    "reader": DENY,
    "other_reader": DENY,
    "author": OK,
    "other_author": DENY,
    "staff": OK,
}
ANY_AUTHOR = {
    "anonymous": LOGIN,
    "reader": DENY,
    "other_reader": DENY,
    "author": OK,
    "other_author": OK,
    "staff": DENY,
}
# Only the account an invitation was sent to may see or answer it.
INVITEE = {
    "anonymous": LOGIN,
    "reader": DENY,
    "other_reader": DENY,
    "author": DENY,
    "other_author": OK,
    "staff": DENY,
}
# A message's "block this sender" link: only the author it was sent to.
BLOCK_LINK_OWNER = {
    "anonymous": LOGIN,
    "reader": DENY,
    "other_reader": DENY,
    "author": OK,
    "other_author": DENY,
    "staff": DENY,
}
# An author's webhook endpoint: its author only (not even staff, who use the admin).
ENDPOINT_OWNER = {
    "anonymous": LOGIN,
    "reader": DENY,
    "other_reader": DENY,
    "author": OK,
    "other_author": DENY,
    "staff": DENY,
}
BUYER = {
    "anonymous": LOGIN,
    "reader": OK,
    "other_reader": DENY,
    "author": DENY,
    "other_author": DENY,
    "staff": DENY,
}
BUYER_OR_STAFF = {**BUYER, "staff": OK}
# The API takes API keys only: no session opens it (tests/api/test_authorization_matrix.py
# checks each route key by key and scope by scope).
KEY_ONLY = dict.fromkeys(PERSONAS, 401)
NOWHERE = dict.fromkeys(PERSONAS, 404)

# A cart payment: its buyer's (a guest's through their session only, none here).
CART_BUYER = {**BUYER, "anonymous": DENY}
CAN_DOWNLOAD = {**BUYER_OR_STAFF, "author": OK}
# A bundle: its maker edits it; every author of a book in it answers for consent.
BUNDLE_MAKER = {**BOOK_AUTHOR, "staff": DENY}
BUNDLE_AUTHORS = {**BUNDLE_MAKER, "other_author": OK}

# url name -> (method, who may, the URL's arguments from the fixture's objects)
MATRIX = {
    "home": ("get", EVERYONE, lambda o: []),
    "healthz": ("get", EVERYONE, lambda o: []),
    "refund_policy": ("get", EVERYONE, lambda o: []),
    "formats": ("get", EVERYONE, lambda o: []),
    "royalties": ("get", EVERYONE, lambda o: []),
    "account": ("get", LOGGED_IN, lambda o: []),
    # A one-time sign-in link is its own credential; GET only asks to confirm.
    "accounts:login_link": ("get", EVERYONE, lambda o: [o["login_link_token"]]),
    "accounts:login_link_request": ("get", EVERYONE, lambda o: []),
    "catalog:list": ("get", EVERYONE, lambda o: []),
    "catalog:book": ("get", EVERYONE, lambda o: [o["book"].slug]),
    "catalog:sample": ("get", EVERYONE, lambda o: [o["book"].slug]),
    "catalog:sample_download": ("get", EVERYONE, lambda o: [o["book"].slug, "pdf"]),
    "catalog:author": ("get", EVERYONE, lambda o: [o["author"].slug]),
    "catalog:author_profile": ("get", LOGGED_IN, lambda o: []),
    "catalog:my_books": ("get", LOGGED_IN, lambda o: []),
    # E-mail the author: any signed-in reader may write (refusals are the form's answer).
    "catalog:contact_author": ("post", LOGGED_IN, lambda o: []),
    "catalog:blocked_senders": ("get", ANY_AUTHOR, lambda o: []),
    "catalog:unblock_sender": ("post", ANY_AUTHOR, lambda o: [o["reader"].pk]),
    "catalog:block_sender": ("get", BLOCK_LINK_OWNER, lambda o: [o["block_token"]]),
    "catalog:book_create": ("get", ANY_AUTHOR, lambda o: []),
    "catalog:manage_book": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug]),
    "catalog:book_edit": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug]),
    "catalog:book_coauthors": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug]),
    "catalog:invite_coauthor": ("post", BOOK_AUTHOR, lambda o: [o["book"].slug]),
    "catalog:invitation_cancel": (
        "post",
        BOOK_AUTHOR,
        lambda o: [o["book"].slug, o["invitation"].pk],
    ),
    "catalog:invitation_accept": ("get", INVITEE, lambda o: [o["invitation"].token]),
    "catalog:invitation_decline": ("get", INVITEE, lambda o: [o["invitation"].token]),
    "catalog:book_toc": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug]),
    "catalog:release_create": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug]),
    "catalog:release_publish": ("post", BOOK_AUTHOR, lambda o: [o["book"].slug, o["release"].pk]),
    "catalog:sample_files": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug]),
    "catalog:manuscript": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug]),
    "catalog:chapter_new": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug]),
    "catalog:chapter_edit": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug, o["chapter"].pk]),
    "catalog:chapter_move": ("post", BOOK_AUTHOR, lambda o: [o["book"].slug, o["chapter"].pk]),
    "catalog:chapter_delete": ("post", BOOK_AUTHOR, lambda o: [o["book"].slug, o["chapter"].pk]),
    "catalog:chapter_restore": ("post", BOOK_AUTHOR, lambda o: [o["book"].slug, o["chapter"].pk]),
    "catalog:manuscript_upload": ("post", BOOK_AUTHOR, lambda o: [o["book"].slug]),
    "catalog:build_start": ("post", BOOK_AUTHOR, lambda o: [o["book"].slug]),
    "catalog:build": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug, o["build"].pk]),
    "catalog:build_status": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug, o["build"].pk]),
    "catalog:build_file": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug, o["build"].pk, "pdf"]),
    "library:index": ("get", LOGGED_IN, lambda o: []),
    "library:preferences": ("get", LOGGED_IN, lambda o: []),
    # The signed token is the credential: whoever holds it may use it (tampering: test_library).
    "library:download_link": ("get", EVERYONE, lambda o: [o["download_token"], "pdf"]),
    "library:unsubscribe": ("get", EVERYONE, lambda o: [o["unsubscribe_token"]]),
    "library:entry": ("get", CAN_DOWNLOAD, lambda o: [o["book"].slug]),
    "library:book_updates": ("post", BUYER, lambda o: [o["book"].slug]),
    "library:remove": ("post", BUYER, lambda o: [o["book"].slug]),
    "library:download": ("get", CAN_DOWNLOAD, lambda o: [o["book"].slug, o["release"].pk, "pdf"]),
    "library:read": ("get", CAN_DOWNLOAD, lambda o: [o["book"].slug]),
    "library:read_resume": ("get", CAN_DOWNLOAD, lambda o: [o["book"].slug]),
    "library:read_chapter": ("get", CAN_DOWNLOAD, lambda o: [o["book"].slug, 2]),
    "library:read_image": ("get", CAN_DOWNLOAD, lambda o: [o["book"].slug, o["image_path"]]),
    "library:send_to_ereader": ("post", CAN_DOWNLOAD, lambda o: [o["book"].slug]),
    "library:ereader": ("get", LOGGED_IN, lambda o: []),
    "payments:checkout": ("get", LOGGED_IN, lambda o: [o["book"].slug]),
    "payments:pay": ("post", LOGGED_IN, lambda o: [o["book"].slug]),
    "payments:orders": ("get", LOGGED_IN, lambda o: []),
    # The cart is every visitor's own (session or account); no ids of others in URLs.
    "payments:cart": ("get", EVERYONE, lambda o: []),
    "payments:cart_add": ("get", EVERYONE, lambda o: [o["book"].slug]),
    "payments:cart_update": ("post", EVERYONE, lambda o: []),
    "payments:cart_checkout": ("post", EVERYONE, lambda o: []),
    # Marking a cart line as a gift: the visitor's own cart (session), like its lines.
    "payments:cart_gift": ("post", EVERYONE, lambda o: []),
    "payments:cart_payment": ("get", CART_BUYER, lambda o: [o["payment"].public_id]),
    # The Payment Element's endpoint (a 400 problem with the demo gateway).
    "payments:cart_intent": ("post", EVERYONE, lambda o: []),
    # A guest's paid page downloads: the session that paid only (none here).
    "payments:guest_download": (
        "get",
        dict.fromkeys(PERSONAS, DENY),
        lambda o: [o["payment"].public_id, o["payment"].orders.first().book_id, "pdf"],
    ),
    "payments:order": ("get", BUYER_OR_STAFF, lambda o: [o["order"].public_id]),
    "payments:pay_order": ("get", BUYER, lambda o: [o["order"].public_id]),
    "payments:refund": ("get", BUYER, lambda o: [o["order"].public_id]),
    "payments:retry": ("post", BUYER, lambda o: [o["order"].public_id]),
    # Authenticated by Stripe's signature, not a session: unsigned is 400 for all.
    "payments:stripe_webhook": ("post", dict.fromkeys(PERSONAS, "bad_request"), lambda o: []),
    # Credits: each reader's own (their balance, their membership); no ids in the URLs.
    "payments:credits": ("get", LOGGED_IN, lambda o: []),
    "payments:buy_pack": ("post", LOGGED_IN, lambda o: []),
    "payments:buy_with_credit": ("post", LOGGED_IN, lambda o: [o["book"].slug]),
    "payments:join_membership": ("post", LOGGED_IN, lambda o: []),
    "payments:membership_stripe": ("get", LOGGED_IN, lambda o: []),
    "payments:membership_stripe_done": ("get", LOGGED_IN, lambda o: []),
    "payments:cancel_membership": ("post", LOGGED_IN, lambda o: []),
    "payments:resume_membership": ("post", LOGGED_IN, lambda o: []),
    "payments:earnings": ("get", ANY_AUTHOR, lambda o: []),
    "payments:earnings_csv": ("get", ANY_AUTHOR, lambda o: []),
    "payments:payout_details": ("get", ANY_AUTHOR, lambda o: []),
    "payments:insights": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug]),
    "api:keys": ("get", ANY_AUTHOR, lambda o: []),
    "api:key_revoke": ("post", BLOCK_LINK_OWNER, lambda o: [o["api_key"].pk]),
    "api:books": ("get", KEY_ONLY, lambda o: []),
    "api:book": ("get", KEY_ONLY, lambda o: [o["book"].slug]),
    "api:releases": ("post", KEY_ONLY, lambda o: [o["book"].slug]),
    "api:release_publish": ("post", KEY_ONLY, lambda o: [o["book"].slug, o["release"].pk]),
    "api:preview": ("post", KEY_ONLY, lambda o: [o["book"].slug]),
    "api:publish": ("post", KEY_ONLY, lambda o: [o["book"].slug]),
    "api:build": ("get", KEY_ONLY, lambda o: [o["book"].slug, o["build"].pk]),
    "api:sales": ("get", KEY_ONLY, lambda o: []),
    "api:refunds": ("get", KEY_ONLY, lambda o: []),
    "api:earnings": ("get", KEY_ONLY, lambda o: []),
    "api:schema": ("get", EVERYONE, lambda o: []),
    "api:docs": ("get", EVERYONE, lambda o: []),
    "api:not_found": ("get", NOWHERE, lambda o: []),
    "webhooks:endpoints": ("get", ANY_AUTHOR, lambda o: []),
    "webhooks:endpoint": ("get", ENDPOINT_OWNER, lambda o: [o["endpoint"].pk]),
    "webhooks:rotate": ("post", ENDPOINT_OWNER, lambda o: [o["endpoint"].pk]),
    "webhooks:set_enabled": ("post", ENDPOINT_OWNER, lambda o: [o["endpoint"].pk]),
    "webhooks:delete": ("post", ENDPOINT_OWNER, lambda o: [o["endpoint"].pk]),
    "webhooks:resend": (
        "post",
        ENDPOINT_OWNER,
        lambda o: [o["endpoint"].pk, o["webhook_delivery"].pk],
    ),
    "payments:book_coupons": ("get", BOOK_AUTHOR, lambda o: [o["book"].slug]),
    "catalog:bundle_list": ("get", LOGGED_IN, lambda o: []),
    "catalog:bundle_create": ("get", ANY_AUTHOR, lambda o: []),
    "catalog:bundle_edit": ("get", BUNDLE_MAKER, lambda o: [o["bundle"].slug]),
    "catalog:bundle_consent": ("get", BUNDLE_AUTHORS, lambda o: [o["bundle"].slug]),
    # The maker creates the bundle's coupons; its other authors see them (read-only).
    "payments:bundle_coupons": ("get", BUNDLE_AUTHORS, lambda o: [o["bundle"].slug]),
    # A listed bundle is public; buying it needs an account (like a book's checkout).
    "payments:bundle": ("get", EVERYONE, lambda o: [o["bundle"].slug]),
    "payments:bundle_cart_add": ("get", EVERYONE, lambda o: [o["bundle"].slug]),
    "payments:bundle_cart_remove": ("post", EVERYONE, lambda o: []),
    "payments:bundle_checkout": ("get", LOGGED_IN, lambda o: [o["bundle"].slug]),
    "payments:bundle_refund": ("get", BUYER, lambda o: [o["bundle_sale"]]),
    # Gifts: the buyer's pages are the buyer's only; the claim link's token is the credential.
    # Visitors without an account give with only their e-mail address (as the cart).
    "payments:gift_checkout": ("get", EVERYONE, lambda o: [o["book"].slug]),
    "payments:bundle_gift": ("get", EVERYONE, lambda o: [o["bundle"].slug]),
    "payments:gifts": ("get", LOGGED_IN, lambda o: []),
    "payments:gift": ("get", BUYER, lambda o: [o["gift"].public_id]),
    "payments:gift_resend": ("post", BUYER, lambda o: [o["gift"].public_id]),
    "payments:gift_address": ("post", BUYER, lambda o: [o["gift"].public_id]),
    "payments:gift_refund": ("post", BUYER, lambda o: [o["gift"].public_id]),
    "payments:gift_claim": ("get", EVERYONE, lambda o: [o["gift"].claim_token]),
    "payments:gift_pass_on": (
        "post",
        dict.fromkeys(PERSONAS, "bad_request"),
        lambda o: [o["gift"].claim_token],
    ),
    # Team licences: the manager's pages are the manager's only; a seat link is its credential.
    "payments:licence_checkout": ("get", LOGGED_IN, lambda o: [o["book"].slug]),
    "payments:team_licence": ("get", BUYER, lambda o: [o["licence"].public_id]),
    "payments:licence_invite": ("post", BUYER, lambda o: [o["licence"].public_id]),
    "payments:seat_reassign": (
        "post",
        BUYER,
        lambda o: [o["licence"].public_id, o["licence"].seats.first().pk],
    ),
    "payments:licence_refund": ("post", BUYER, lambda o: [o["licence"].public_id]),
    "payments:seat_claim": ("get", EVERYONE, lambda o: [o["licence"].seats.first().claim_token]),
}


def our_url_names(patterns=None, namespace=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin" or "allauth" in str(pattern.urlconf_name):
                continue  # Django's and allauth's own views, tested by them
            prefix = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from our_url_names(pattern.url_patterns, prefix)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield namespace + pattern.name


def test_every_view_is_in_the_matrix():
    assert set(our_url_names()) == set(MATRIX)


@pytest.fixture
def world():
    author, other_author = AuthorFactory(), AuthorFactory()
    book = BookFactory(authors=[author])
    release = catalog.create_release(
        book=book,
        version="1.0",
        files={
            "pdf": ContentFile(b"%PDF-1.4 %%EOF", name="b.pdf"),
            "epub": ContentFile(EPUB, name="b.epub"),
        },
    )
    catalog.publish_release(release=release)
    catalog.set_sample_file(
        book=book, fmt="pdf", upload=ContentFile(b"%PDF-1.4 sample %%EOF", name="s.pdf")
    )
    type(book).objects.filter(pk=book.pk).update(sample_markdown="Sample")
    book.refresh_from_db()
    chapter = manuscript.add_chapter(book=book, title="One", markdown="Text")
    build = Build.objects.create(
        book=book,
        kind="preview",
        status="done",
        preview_pdf=ContentFile(b"%PDF-1.4 %%EOF", name="p.pdf"),
    )
    reader = UserFactory()
    order = payments.place_order(
        buyer=reader, book=book, amount_cents=2000, checkout_token=uuid.uuid4()
    )
    payments.mark_paid(order_id=order.pk, amount_cents=2000)
    payment = cart_payments.place_cart_payment(
        buyer=reader,
        lines=[cart_payments.LineChoice(BookFactory(authors=[author]), 1500)],
        checkout_token=uuid.uuid4(),
    )
    bundle = listed_bundle([book, BookFactory(authors=[other_author])], by=author)
    rest = bundle_purchases.offer_for(bundles.with_books(type(bundle).objects).get(), reader)
    bundle_payment = bundle_purchases.place_bundle_payment(
        buyer=reader,
        bundle_id=bundle.pk,
        amount_cents=rest.bounds.minimum,
        checkout_token=uuid.uuid4(),
    )
    type(book).objects.filter(pk=book.pk).update(team_licences=True)
    book.refresh_from_db()
    gift_payment = gifts.place_book_gift(
        buyer=reader,
        book=book,
        amount_cents=2000,
        details=gifts.GiftDetails(
            recipient_email="friend@example.com", message="", deliver_on=None
        ),
        checkout_token=uuid.uuid4(),
    )
    cart_payments.mark_payment_paid(payment_id=gift_payment.pk, amount_cents=2000)
    licence_payment = team_licences.place_licence(
        manager=reader, book=book, seats=2, checkout_token=uuid.uuid4()
    )
    cart_payments.mark_payment_paid(
        payment_id=licence_payment.pk, amount_cents=licence_payment.amount_cents
    )
    licence = licence_payment.team_licence
    team_licences.invite(licence_id=licence.pk, manager=reader, addresses=["seat@example.com"])
    invitation = invitations.invite_coauthor(
        book=book, by=author.user, email=other_author.user.email, share=10
    )
    endpoint = Endpoint.objects.create(
        author=author,
        url="https://hooks.example.com/in",
        event_types=["sale.completed"],
        secret=new_secret(),
    )
    event = Event.objects.create(author=author, type="sale.completed", key="k", payload={})
    webhook_delivery = Delivery.objects.create(
        event=event, endpoint=endpoint, status="succeeded", retry_until=event.created_at
    )
    return {
        "endpoint": endpoint,
        "webhook_delivery": webhook_delivery,
        "author": author,
        "other_author": other_author,
        "invitation": invitation,
        "book": book,
        "release": release,
        "image_path": IMAGE_PATH,
        "chapter": chapter,
        "build": build,
        "reader": reader,
        "other_reader": UserFactory(),
        "staff": UserFactory(is_staff=True),
        "order": order,
        "payment": payment,
        "bundle": bundle,
        "bundle_sale": bundle_payment.orders.first().bundle_sale,
        "gift": gift_payment.gifts.get(),
        "licence": licence,
        "download_token": download_token(user_id=reader.pk, book_id=book.pk),
        "unsubscribe_token": unsubscribe_token(user_id=reader.pk, book_id=book.pk),
        "block_token": contact.block_token(author=author, sender=reader),
        "login_link_token": make_token(reader, next_url="/"),
        "api_key": keys.create_key(user=author.user, name="CI", scopes=["publish"])[0],
    }


def log_in_as(client, world, persona):
    if persona == "anonymous":
        return
    user = world[persona].user if persona in ("author", "other_author") else world[persona]
    client.force_login(user)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_who_may_open_each_view(client, world, name, persona):
    method, rule, args = MATRIX[name]
    log_in_as(client, world, persona)
    url = reverse(name, args=args(world))

    response = getattr(client, method)(url)

    expected = rule[persona]
    location = response.get("Location", "")
    if expected == LOGIN:
        assert response.status_code == 302 and location.startswith(reverse("account_login")), (
            response
        )
    elif expected == DENY:
        assert response.status_code in (403, 404), response
    elif isinstance(expected, int):
        assert response.status_code == expected, response
    elif expected == "bad_request":
        assert response.status_code == 400, response
    else:
        assert response.status_code in (200, 302, 400), response
        assert not location.startswith(reverse("account_login")), location
