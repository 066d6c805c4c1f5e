"""Team licences: N seats in one payment, one sale per seat by the one royalty rule
(co-author splits as usual); invite, claim, reassign before download; refunds of
unused seats only."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import BookAuthor
from core.models import EmailDelivery
from library.models import Entitlement
from library.services import grant_entitlement, owns
from payments import cart_payments, refunds, team_licences
from payments.ledger import audit
from payments.models import LedgerEntry, Order, Seat, TeamLicence
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def book():
    book = BookFactory(
        title="Team Book",
        minimum_price_cents=999,
        suggested_price_cents=2000,
        team_licences=True,
        team_seat_discount_percent=25,
        authors=[AuthorFactory(display_name="Ann"), AuthorFactory(display_name="Bob")],
    )
    first, second = BookAuthor.objects.filter(book=book).order_by("position")
    first.royalty_share, second.royalty_share = 60, 40
    first.save(), second.save()
    return book


@pytest.fixture
def manager():
    return UserFactory(email="boss@example.com")


def buy(manager, book, seats=3, token=None):
    payment = team_licences.place_licence(
        manager=manager, book=book, seats=seats, checkout_token=token or uuid.uuid4()
    )
    cart_payments.mark_payment_paid(payment_id=payment.pk, amount_cents=payment.amount_cents)
    return TeamLicence.objects.get(payment=payment)


def download(user, book):
    Entitlement.objects.filter(user=user, book=book).update(last_downloaded_at=timezone.now())


def test_the_seat_price_is_the_discounted_suggested_price_never_below_the_minimum(book):
    assert team_licences.seat_price(book) == 1500
    book.team_seat_discount_percent = 90
    assert team_licences.seat_price(book) == 999  # the minimum
    book.team_licences = False
    assert team_licences.seat_price(book) is None
    cheap = BookFactory(
        minimum_price_cents=0,
        suggested_price_cents=100,
        team_licences=True,
        team_seat_discount_percent=50,
    )
    assert team_licences.seat_price(cheap) == 99  # never into the invalid 1–98¢ band


def test_three_seats_are_one_payment_and_three_sales_split_by_co_author_shares(manager, book):
    licence = buy(manager, book)
    assert licence.payment.amount_cents == 4500
    orders = list(licence.orders.order_by("pk"))
    assert [o.amount_cents for o in orders] == [1500] * 3
    assert all(o.status == Order.Status.PAID and o.royalty_cents == 1200 for o in orders)
    ann = LedgerEntry.objects.filter(account="author", author__display_name="Ann")
    bob = LedgerEntry.objects.filter(account="author", author__display_name="Bob")
    assert sum(e.amount_cents for e in ann) == 3 * 720
    assert sum(e.amount_cents for e in bob) == 3 * 480
    assert not owns(manager, book)  # seats are for the team, not the manager's copy
    assert EmailDelivery.objects.filter(key=f"licence-receipt:licence-{licence.pk}").exists()
    assert audit().ok, audit().problems


def test_a_double_click_buys_one_licence(manager, book):
    token = uuid.uuid4()
    first = team_licences.place_licence(manager=manager, book=book, seats=3, checkout_token=token)
    second = team_licences.place_licence(manager=manager, book=book, seats=3, checkout_token=token)
    assert first == second and TeamLicence.objects.count() == 1 and Order.objects.count() == 3


@pytest.mark.parametrize("seats", [0, 1, 501])
def test_a_seat_count_out_of_range_is_refused(manager, book, seats):
    with pytest.raises(team_licences.LicenceError, match="2 to 500"):
        team_licences.place_licence(
            manager=manager, book=book, seats=seats, checkout_token=uuid.uuid4()
        )
    assert not Order.objects.exists()


def test_a_book_without_team_licences_refuses_them(manager):
    with pytest.raises(team_licences.LicenceError, match="not offered"):
        team_licences.place_licence(
            manager=manager, book=BookFactory(), seats=3, checkout_token=uuid.uuid4()
        )


def test_invite_claim_reassign_and_each_holder_gets_the_book(manager, book):
    licence = buy(manager, book)
    team_licences.invite(
        licence_id=licence.pk, manager=manager, addresses=["a@example.com", "b@example.com"]
    )
    first, second, free = licence.seats.order_by("pk")
    assert (first.email, second.email, free.email) == ("a@example.com", "b@example.com", "")
    assert EmailDelivery.objects.filter(key__startswith="seat-invite:").count() == 2
    reader_a = UserFactory(email="a@example.com")
    team_licences.claim_seat(token=first.claim_token, user=reader_a)
    assert owns(reader_a, book)
    with pytest.raises(team_licences.LicenceError, match="claimed already"):
        team_licences.claim_seat(token=first.claim_token, user=UserFactory())
    # B never claimed; A claimed but has not downloaded: A's seat moves to C.
    old_token = first.claim_token
    team_licences.reassign(seat_id=first.pk, manager=manager, email="c@example.com")
    assert not owns(reader_a, book)
    with pytest.raises(team_licences.LicenceError, match="not valid"):
        team_licences.claim_seat(token=old_token, user=reader_a)
    first.refresh_from_db()
    reader_c = UserFactory(email="c@example.com")
    team_licences.claim_seat(token=first.claim_token, user=reader_c)
    download(reader_c, book)
    with pytest.raises(team_licences.LicenceError, match="downloaded"):
        team_licences.reassign(seat_id=first.pk, manager=manager, email="d@example.com")
    assert audit().ok, audit().problems


def test_more_invitations_than_free_seats_invite_nobody(manager, book):
    licence = buy(manager, book)
    with pytest.raises(team_licences.LicenceError, match="free seat"):
        team_licences.clean_addresses(
            "\n".join(f"r{i}@example.com" for i in range(10_000)), limit=3
        )
    with pytest.raises(team_licences.LicenceError, match="free seat"):
        team_licences.invite(
            licence_id=licence.pk,
            manager=manager,
            addresses=[f"r{i}@example.com" for i in range(4)],
        )
    assert not Seat.objects.exclude(email="").exists()
    assert not EmailDelivery.objects.filter(key__startswith="seat-invite:").exists()


def test_a_bad_address_is_named_and_nobody_is_invited():
    with pytest.raises(team_licences.LicenceError, match="not-an-address"):
        team_licences.clean_addresses("a@example.com\nnot-an-address", limit=3)


def test_another_manager_cannot_touch_the_licence(manager, book):
    licence = buy(manager, book)
    stranger = UserFactory()
    with pytest.raises(team_licences.LicenceError, match="No such"):
        team_licences.invite(licence_id=licence.pk, manager=stranger, addresses=["x@example.com"])
    seat = licence.seats.first()
    with pytest.raises(team_licences.LicenceError, match="No such seat"):
        team_licences.reassign(seat_id=seat.pk, manager=stranger, email="x@example.com")


def test_a_reader_who_owns_the_book_is_refused_a_seat(manager, book):
    licence = buy(manager, book)
    team_licences.invite(licence_id=licence.pk, manager=manager, addresses=["a@example.com"])
    reader = UserFactory(email="a@example.com")
    grant_entitlement(user=reader, book=book)
    seat = licence.seats.get(email="a@example.com")
    with pytest.raises(team_licences.LicenceError, match="own this book already"):
        team_licences.claim_seat(token=seat.claim_token, user=reader)


def test_the_whole_licence_is_refunded_while_no_seat_is_used(manager, book):
    licence = buy(manager, book)
    results = team_licences.refund_unused(licence_id=licence.pk, manager=manager)
    assert len(results) == 3
    assert set(licence.orders.values_list("status", flat=True)) == {"refunded"}
    assert all(seat.closed_at for seat in licence.seats.all())
    assert audit().ok, audit().problems


def test_after_a_seat_is_used_only_the_unused_seats_are_refunded(manager, book):
    licence = buy(manager, book)
    team_licences.invite(
        licence_id=licence.pk, manager=manager, addresses=["a@example.com", "b@example.com"]
    )
    used, claimed, _free = licence.seats.order_by("pk")
    reader_a, reader_b = UserFactory(email="a@example.com"), UserFactory(email="b@example.com")
    team_licences.claim_seat(token=used.claim_token, user=reader_a)
    team_licences.claim_seat(token=claimed.claim_token, user=reader_b)
    download(reader_a, book)
    with pytest.raises(refunds.RefundError, match="downloaded"):
        refunds.request_refund(order_id=used.order_id, user=manager)
    results = team_licences.refund_unused(licence_id=licence.pk, manager=manager)
    assert len(results) == 2
    assert owns(reader_a, book) and not owns(reader_b, book)  # B's unused seat went back
    used.order.refresh_from_db()
    assert used.order.status == Order.Status.PAID
    assert audit().ok, audit().problems


def test_no_seat_is_refunded_after_the_window(manager, book):
    licence = buy(manager, book)
    licence.orders.update(paid_at=timezone.now() - timedelta(days=61))
    with pytest.raises(refunds.RefundError, match="window closed"):
        team_licences.refund_unused(licence_id=licence.pk, manager=manager)


def test_a_refunded_seat_cannot_be_claimed(manager, book):
    licence = buy(manager, book)
    team_licences.invite(licence_id=licence.pk, manager=manager, addresses=["a@example.com"])
    seat = licence.seats.get(email="a@example.com")
    refunds.refund_order(order_id=seat.order_id, actor=manager)
    with pytest.raises(team_licences.LicenceError):
        team_licences.claim_seat(token=seat.claim_token, user=UserFactory())


def test_seats_cannot_be_invited_before_payment(manager, book):
    payment = team_licences.place_licence(
        manager=manager, book=book, seats=2, checkout_token=uuid.uuid4()
    )
    with pytest.raises(team_licences.LicenceError, match="not paid"):
        team_licences.invite(
            licence_id=payment.team_licence.pk, manager=manager, addresses=["a@example.com"]
        )
