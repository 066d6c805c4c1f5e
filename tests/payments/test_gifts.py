"""Gifts: a book or a bundle bought for someone else, delivered on its day (once),
claimed once into the recipient's library, refunded only while unclaimed."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.models import EmailDelivery
from library.models import Entitlement
from library.services import grant_entitlement, owns
from payments import cart_payments, gift_delivery, gifts, refunds, tasks
from payments.ledger import audit
from payments.models import Gift, LedgerEntry, LedgerTransaction, Order, Payment
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import BookFactory, UserFactory, listed_bundle

pytestmark = pytest.mark.django_db


@pytest.fixture
def book():
    return BookFactory(title="Gifted", minimum_price_cents=999, suggested_price_cents=1999)


@pytest.fixture
def giver():
    return UserFactory(email="giver@example.com")


def details(email="friend@example.com", message="Happy birthday!", on=None):
    return gifts.GiftDetails(recipient_email=email, message=message, deliver_on=on)


def buy(giver, book, *, amount=1999, on=None, email="friend@example.com", token=None):
    payment = gifts.place_book_gift(
        buyer=giver,
        book=book,
        amount_cents=amount,
        details=details(email=email, on=on),
        checkout_token=token or uuid.uuid4(),
    )
    cart_payments.mark_payment_paid(payment_id=payment.pk, amount_cents=payment.amount_cents)
    return Gift.objects.get(payment=payment)


def claim_mails(gift):
    return EmailDelivery.objects.filter(key__startswith=f"gift-claim:gift-{gift.pk}:")


def test_a_gift_for_now_is_a_sale_for_the_buyer_and_is_delivered_at_once(giver, book):
    gift = buy(giver, book)
    gift.refresh_from_db()
    assert gift.status == Gift.Status.SENT
    order = gift.orders.get()
    assert order.status == Order.Status.PAID and order.buyer == giver
    assert LedgerTransaction.objects.filter(order=order, kind="sale").count() == 1
    author_cut = LedgerEntry.objects.filter(transaction__order=order, account="author")
    assert sum(e.amount_cents for e in author_cut) == 1599  # 80% of $19.99, the one rule
    assert not owns(giver, book)  # not the buyer's copy
    [mail] = claim_mails(gift)
    assert mail.to == "friend@example.com" and "Happy birthday!" in mail.body
    assert "$19.99" not in mail.body and "19.99" not in mail.html  # never what was paid
    assert EmailDelivery.objects.filter(key=f"gift-receipt:gift-{gift.pk}").exists()
    assert audit().ok, audit().problems


def test_a_gift_for_a_later_day_waits_and_the_sweep_delivers_it_once(giver, book):
    later = timezone.now().astimezone(UTC).date() + timedelta(days=3)
    gift = buy(giver, book, on=later)
    gift.refresh_from_db()
    assert gift.status == Gift.Status.SCHEDULED and not claim_mails(gift).exists()
    assert tasks.deliver_due_gifts() == 0
    on_the_day = datetime.combine(later, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    assert gift_delivery.due_gift_ids(now=on_the_day) == [gift.pk]
    assert gift_delivery.deliver(gift.pk, now=on_the_day) is True
    # The queued task, a retried one, the sweep: nothing more.
    assert gift_delivery.deliver(gift.pk, now=on_the_day) is False
    tasks.deliver_gift(gift.pk)
    tasks.deliver_due_gifts()
    assert claim_mails(gift).count() == 1
    gift.refresh_from_db()
    assert gift.status == Gift.Status.SENT


def test_a_delivery_date_in_the_past_is_refused_and_nothing_is_charged(giver, book):
    yesterday = timezone.now().astimezone(UTC).date() - timedelta(days=1)
    with pytest.raises(gifts.GiftError, match="in the past"):
        gifts.place_book_gift(
            buyer=giver,
            book=book,
            amount_cents=1999,
            details=details(on=yesterday),
            checkout_token=uuid.uuid4(),
        )
    assert not Payment.objects.exists() and not Gift.objects.exists()


def test_today_is_delivered_as_soon_as_it_is_paid(giver, book):
    gift = buy(giver, book, on=timezone.now().astimezone(UTC).date())
    gift.refresh_from_db()
    assert gift.status == Gift.Status.SENT


@pytest.mark.parametrize(
    "bad, message",
    [
        (details(email="not-an-address"), "e-mail address"),
        (details(message="x" * 2001), "at most"),
    ],
)
def test_bad_gift_details_are_refused_with_a_clear_message(giver, book, bad, message):
    with pytest.raises(gifts.GiftError, match=message):
        gifts.place_book_gift(
            buyer=giver, book=book, amount_cents=1999, details=bad, checkout_token=uuid.uuid4()
        )
    assert not Order.objects.exists()


def test_an_amount_below_the_minimum_is_refused(giver, book):
    with pytest.raises(gifts.GiftError, match="minimum"):
        gifts.place_book_gift(
            buyer=giver, book=book, amount_cents=500, details=details(), checkout_token=uuid.uuid4()
        )


def test_a_double_click_places_one_gift_and_one_payment(giver, book):
    token = uuid.uuid4()
    first = gifts.place_book_gift(
        buyer=giver, book=book, amount_cents=1999, details=details(), checkout_token=token
    )
    second = gifts.place_book_gift(
        buyer=giver, book=book, amount_cents=1999, details=details(), checkout_token=token
    )
    assert first == second
    assert Gift.objects.count() == 1 and Order.objects.count() == 1


def test_a_replayed_payment_event_delivers_and_books_nothing_twice(giver, book):
    gift = buy(giver, book)
    payment = gift.payment
    assert not cart_payments.mark_payment_paid(
        payment_id=payment.pk, amount_cents=payment.amount_cents
    )
    assert LedgerTransaction.objects.filter(kind="sale").count() == 1
    assert claim_mails(gift).count() == 1


def test_the_recipient_claims_once_and_gets_the_book_without_a_refund_link(giver, book):
    gift = buy(giver, book)
    friend = UserFactory(email="friend@example.com")
    gifts.claim(token=gift.claim_token, user=friend)
    entitlement = Entitlement.objects.get(user=friend, book=book)
    assert entitlement.refundable_until is None  # the recipient never sees a price
    assert entitlement.order_ref == gift.orders.get().public_id
    with pytest.raises(gifts.GiftError, match="claimed already"):
        gifts.claim(token=gift.claim_token, user=UserFactory())
    gift.refresh_from_db()
    assert gift.status == Gift.Status.CLAIMED and gift.claimed_by == friend


def test_a_gift_is_refunded_only_while_unclaimed(giver, book):
    unclaimed = buy(giver, book)
    gifts.refund(gift_id=unclaimed.pk, buyer=giver)
    unclaimed.refresh_from_db()
    assert unclaimed.status == Gift.Status.REFUNDED
    assert unclaimed.orders.get().status == Order.Status.REFUNDED
    with pytest.raises(gifts.GiftError, match="refunded"):
        gifts.claim(token=unclaimed.claim_token, user=UserFactory())

    claimed = buy(giver, book, email="other@example.com")
    gifts.claim(token=claimed.claim_token, user=UserFactory(email="other@example.com"))
    with pytest.raises(refunds.RefundError, match="claimed"):
        gifts.refund(gift_id=claimed.pk, buyer=giver)
    assert claimed.orders.get().status == Order.Status.PAID
    assert audit().ok, audit().problems


def test_a_gift_refund_after_the_window_is_refused(giver, book):
    gift = buy(giver, book)
    Order.objects.filter(gift=gift).update(paid_at=timezone.now() - timedelta(days=61))
    with pytest.raises(refunds.RefundError, match="window closed"):
        gifts.refund(gift_id=gift.pk, buyer=giver)


def test_someone_else_cannot_refund_or_change_the_gift(giver, book):
    gift = buy(giver, book)
    stranger = UserFactory()
    with pytest.raises(refunds.RefundError):
        gifts.refund(gift_id=gift.pk, buyer=stranger)
    with pytest.raises(gifts.GiftError, match="No such gift"):
        gifts.change_address(gift_id=gift.pk, buyer=stranger, recipient_email="x@example.com")


def test_changing_the_address_sends_a_new_link_and_kills_the_old_one(giver, book):
    gift = buy(giver, book)
    old_token = gift.claim_token
    gifts.change_address(gift_id=gift.pk, buyer=giver, recipient_email="New@Example.com ")
    gift.refresh_from_db()
    assert gift.recipient_email == "new@example.com" and gift.claim_token != old_token
    assert claim_mails(gift).count() == 2
    assert claim_mails(gift).order_by("pk").last().to == "new@example.com"
    with pytest.raises(gifts.GiftError, match="not valid"):
        gifts.claim(token=old_token, user=UserFactory())
    gifts.claim(token=gift.claim_token, user=UserFactory(email="new@example.com"))
    with pytest.raises(gifts.GiftError, match="claimed already"):
        gifts.change_address(gift_id=gift.pk, buyer=giver, recipient_email="late@example.com")


def test_resend_sends_the_same_link_again(giver, book):
    gift = buy(giver, book)
    gifts.resend(gift_id=gift.pk, buyer=giver)
    mails = list(claim_mails(gift).order_by("pk"))
    assert len(mails) == 2
    assert str(gift.claim_token) in mails[1].body


def test_a_recipient_who_owns_the_book_passes_the_gift_on(giver, book):
    gift = buy(giver, book)
    friend = UserFactory(email="friend@example.com")
    grant_entitlement(user=friend, book=book)
    with pytest.raises(gifts.AlreadyOwnsGift, match="Pass the gift on"):
        gifts.claim(token=gift.claim_token, user=friend)
    gifts.pass_on(token=gift.claim_token, user=friend, recipient_email="third@example.com")
    gift.refresh_from_db()
    assert gift.recipient_email == "third@example.com" and gift.status == Gift.Status.SENT
    third = UserFactory(email="third@example.com")
    gifts.claim(token=gift.claim_token, user=third)
    assert owns(third, book)


def test_a_recipient_who_does_not_own_it_cannot_pass_it_on(giver, book):
    gift = buy(giver, book)
    with pytest.raises(gifts.GiftError, match="Claim the gift instead"):
        gifts.pass_on(token=gift.claim_token, user=UserFactory(), recipient_email="x@example.com")


def test_a_buyer_may_give_a_book_they_own_and_give_it_twice(giver, book):
    grant_entitlement(user=giver, book=book)
    first = buy(giver, book, email="one@example.com")
    second = buy(giver, book, email="two@example.com")
    assert first.orders.get().status == Order.Status.PAID
    assert second.orders.get().status == Order.Status.PAID  # neither is a "duplicate"
    assert owns(giver, book)  # the giver's own copy is untouched by either
    gifts.refund(gift_id=first.pk, buyer=giver)
    assert owns(giver, book)
    assert audit().ok, audit().problems


def test_a_bundle_gift_is_split_across_its_books_and_claimed_together(giver):
    one = BookFactory(minimum_price_cents=999, suggested_price_cents=1999)
    two = BookFactory(minimum_price_cents=999, suggested_price_cents=1999)
    grant_entitlement(user=giver, book=one)  # the giver's library does not matter
    bundle = listed_bundle([one, two], minimum_cents=2000, suggested_cents=3000)
    payment = gifts.place_bundle_gift(
        buyer=giver,
        bundle_id=bundle.pk,
        amount_cents=3000,
        details=details(),
        checkout_token=uuid.uuid4(),
    )
    cart_payments.mark_payment_paid(payment_id=payment.pk, amount_cents=3000)
    gift = Gift.objects.get(payment=payment)
    assert sorted(o.amount_cents for o in gift.orders.all()) == [1500, 1500]
    friend = UserFactory()
    gifts.claim(token=gift.claim_token, user=friend)
    assert owns(friend, one) and owns(friend, two)
    assert audit().ok, audit().problems


def test_a_failed_payment_delivers_nothing(giver, book):
    payment = gifts.place_book_gift(
        buyer=giver, book=book, amount_cents=1999, details=details(), checkout_token=uuid.uuid4()
    )
    cart_payments.mark_payment_failed(payment_id=payment.pk, reason="Declined")
    gift = Gift.objects.get(payment=payment)
    assert gift_delivery.deliver(gift.pk) is False
    assert not claim_mails(gift).exists()
    with pytest.raises(gifts.GiftError):
        gifts.claim(token=gift.claim_token, user=UserFactory())


def test_the_gift_date_helper_treats_today_as_now():
    now = datetime(2030, 5, 5, 15, 0, tzinfo=UTC)
    assert details(on=date(2030, 5, 5)).deliver_at(now=now) == now
    assert details(on=date(2030, 5, 6)).deliver_at(now=now) == datetime(2030, 5, 6, tzinfo=UTC)


def _outcome(call):
    try:
        call()
        return "ok"
    except (gifts.GiftError, refunds.RefundError) as exc:
        return type(exc).__name__


@pytest.mark.django_db(transaction=True)
def test_a_claim_and_a_refund_at_once_end_with_one_of_them_on_postgresql(giver, book):
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    gift = buy(giver, book)
    friend = UserFactory()
    outcomes = at_once(
        lambda: _outcome(lambda: gifts.claim(token=gift.claim_token, user=friend)),
        lambda: _outcome(lambda: gifts.refund(gift_id=gift.pk, buyer=giver)),
    )
    gift.refresh_from_db()
    order = gift.orders.get()
    assert sorted(outcomes) in (["GiftError", "ok"], ["RefundError", "ok"]), outcomes
    if gift.status == Gift.Status.CLAIMED:
        assert order.status == Order.Status.PAID and owns(friend, book)
    else:
        assert order.status == Order.Status.REFUNDED and not owns(friend, book)
    assert audit().ok, audit().problems


@pytest.mark.django_db(transaction=True)
def test_two_workers_delivering_and_two_tabs_claiming_at_once_do_it_once_on_postgresql(giver, book):
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    later = timezone.now().astimezone(UTC).date() + timedelta(days=2)
    gift = buy(giver, book, on=later)
    due = timezone.now() + timedelta(days=3)
    delivered = at_once(*(lambda: gift_delivery.deliver(gift.pk, now=due) for _ in range(2)))
    assert sorted(delivered) == [False, True]
    assert claim_mails(gift).count() == 1
    gift.refresh_from_db()
    readers = [UserFactory(), UserFactory()]
    outcomes = at_once(
        *(
            lambda r=r: _outcome(lambda: gifts.claim(token=gift.claim_token, user=r))
            for r in readers
        )
    )
    assert sorted(outcomes) == ["GiftError", "ok"]
    assert sum(owns(r, book) for r in readers) == 1
