"""Credits: bought in packs, spent on books at their cash value, refunded exactly."""

import threading
import uuid

import pytest
from django.db import close_old_connections, connection
from django.urls import reverse

from core.models import EmailDelivery
from library.services import owns
from payments import credit_purchases, credits, refunds, services
from payments.ledger import audit
from payments.models import CreditEntry, LedgerEntry, LedgerTransaction, Order, Refund
from payments.royalties import royalty_for
from tests.conftest import require
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db


def buy_pack(user, size):
    order = services.place_pack_order(buyer=user, credits=size, checkout_token=uuid.uuid4())
    assert services.mark_paid(order_id=order.pk, amount_cents=order.amount_cents)
    order.refresh_from_db()
    return order


def spend(user, book):
    return credit_purchases.buy_with_credit(buyer=user, book=book, checkout_token=uuid.uuid4())


def refund(order, user):
    result = refunds.request_refund(order_id=order.pk, user=user)
    result = refunds.execute_refund(refund_id=result.pk, actor=user).refund
    assert result.status == Refund.Status.REFUNDED, result.last_error
    order.refresh_from_db()
    return result


def account_sum(account, **filters):
    return sum(
        LedgerEntry.objects.filter(account=account, **filters).values_list(
            "amount_cents", flat=True
        )
    )


def test_a_pack_spent_refunded_and_returned_balances_to_the_cent(settings):
    """$10.00 for 3 credits (1000 / 3 does not divide), spent on three books of
    different prices, one book refunded (the credit returns), then the pack's
    unused credit refunded as money."""
    settings.CREDIT_PACKS = {3: 1000}
    reader = UserFactory()
    ada = AuthorFactory()
    books = [
        BookFactory(minimum_price_cents=price, suggested_price_cents=price, authors=[ada])
        for price in (99, 2499, 5000)
    ]

    pack = buy_pack(reader, 3)
    assert credits.balance(reader) == 3
    assert account_sum("credits") == 1000 and account_sum("processor") == -1000

    bought = [spend(reader, book) for book in books]
    # The credit's cash value, not the book's price: 333 + 333 + 334 = 1000.
    assert [o.amount_cents for o in bought] == [333, 333, 334]
    assert all(o.paid_with_credit and o.is_paid for o in bought)
    assert all(owns(reader, book) for book in books)
    assert credits.balance(reader) == 0
    assert account_sum("credits") == 0
    assert account_sum("author") == 2 * royalty_for(333) + royalty_for(334)
    assert [o.royalty_cents for o in bought] == [royalty_for(333)] * 2 + [royalty_for(334)]

    # Refund the second book: the credit (worth 333) comes back, royalties reversed.
    refund(bought[1], reader)
    assert bought[1].status == Order.Status.REFUNDED
    assert not owns(reader, books[1])
    assert credits.balance(reader) == 1
    assert account_sum("credits") == 333
    assert account_sum("author") == royalty_for(333) + royalty_for(334)

    # Refund the pack's unused credit: $3.33 back to the card.
    pack_refund = refund(pack, reader)
    assert pack_refund.amount_cents == 333
    assert credits.balance(reader) == 0
    assert account_sum("credits") == 0
    assert account_sum("processor") == -1000 + 333
    # The platform keeps the rest of what the two kept books paid.
    kept = 333 + 334
    assert account_sum("platform") == kept - royalty_for(333) - royalty_for(334)
    # Every transaction balances; the audit agrees, credits included.
    report = audit()
    assert report.ok, report.problems
    for txn in LedgerTransaction.objects.all():
        assert sum(e.amount_cents for e in txn.entries.all()) == 0
    # The books kept stay in the library; the history tells the whole story.
    assert owns(reader, books[0]) and owns(reader, books[2])
    kinds = sorted(credits.history(reader).values_list("kind", flat=True))
    assert kinds == ["bought", "refunded", "returned", "spent", "spent", "spent"]


def test_a_credit_spent_once_per_checkout_and_the_receipt_sent_once():
    reader, book = UserFactory(), BookFactory(minimum_price_cents=999)
    buy_pack(reader, 1)
    token = uuid.uuid4()
    first = credit_purchases.buy_with_credit(buyer=reader, book=book, checkout_token=token)
    again = credit_purchases.buy_with_credit(buyer=reader, book=book, checkout_token=token)
    assert first.pk == again.pk
    assert credits.balance(reader) == 0
    assert EmailDelivery.objects.filter(key=f"receipt:order-{first.pk}").count() == 1
    assert audit().ok


@pytest.mark.parametrize("case", ["no credit", "free book", "owned", "retired"])
def test_a_credit_cannot_buy_what_it_should_not_and_nothing_changes(case):
    reader = UserFactory()
    book = BookFactory(minimum_price_cents=999)
    if case != "no credit":
        buy_pack(reader, 1)
    if case == "free book":
        book = BookFactory(minimum_price_cents=0, suggested_price_cents=0)
    if case == "owned":
        order = services.place_order(
            buyer=reader, book=book, amount_cents=999, checkout_token=uuid.uuid4()
        )
        services.mark_paid(order_id=order.pk, amount_cents=999)
    if case == "retired":
        book.status = "retired"
        book.save()
    before = (credits.balance(reader), Order.objects.count(), LedgerEntry.objects.count())

    with pytest.raises(credits.CreditError) as error:
        spend(reader, book)

    expected = {
        "no credit": "no credits",
        "free book": "free",
        "owned": "own this book",
        "retired": "not for sale",
    }[case]
    assert expected in str(error.value)
    assert (credits.balance(reader), Order.objects.count(), LedgerEntry.objects.count()) == before


def test_the_book_page_offers_a_credit_and_the_view_says_why_it_cannot(client):
    reader, book = UserFactory(), BookFactory(minimum_price_cents=999)
    client.force_login(reader)
    html = client.get(book.get_absolute_url()).content.decode()
    assert "Buy with 1 credit" not in html and "buy them here" in html

    response = client.post(
        reverse("payments:buy_with_credit", args=[book.slug]),
        {"checkout_token": str(uuid.uuid4())},
        follow=True,
    )
    assert "You have no credits left" in response.content.decode()
    assert not Order.objects.filter(buyer=reader).exists()

    buy_pack(reader, 1)
    html = client.get(book.get_absolute_url()).content.decode()
    assert "Buy with 1 credit" in html and "You have 1 credit." in html
    response = client.post(
        reverse("payments:buy_with_credit", args=[book.slug]),
        {"checkout_token": "not-a-uuid"},
    )
    assert response.status_code == 302 and credits.balance(reader) == 1
    response = client.post(
        reverse("payments:buy_with_credit", args=[book.slug]),
        {"checkout_token": str(uuid.uuid4())},
    )
    assert response.url == reverse("library:index")
    assert owns(reader, book) and credits.balance(reader) == 0


def test_the_credits_page_sells_packs_and_shows_the_history(client, settings):
    settings.CREDIT_PACKS = {1: 1500, 3: 4000}
    reader = UserFactory()
    client.force_login(reader)
    html = client.get(reverse("payments:credits")).content.decode()
    assert "No credits yet" in html and "3 credits for $40.00" in html

    response = client.post(
        reverse("payments:buy_pack"), {"credits": "3", "checkout_token": str(uuid.uuid4())}
    )
    order = Order.objects.get(buyer=reader)
    assert response.url == reverse("payments:pay_order", args=[order.public_id])
    assert order.product == "credits" and order.amount_cents == 4000 and order.credits == 3
    response = client.post(
        response.url, {"card_number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123"}
    )
    assert response.url == reverse("payments:credits")
    html = client.get(reverse("payments:credits")).content.decode()
    assert 'data-testid="credit-balance">3 credits<' in html and "Bought" in html
    assert "3 credits" in client.get(reverse("account")).content.decode()

    for bad in ({"credits": "2"}, {"credits": "x"}, {}):
        client.post(reverse("payments:buy_pack"), {**bad, "checkout_token": str(uuid.uuid4())})
    assert Order.objects.filter(buyer=reader).count() == 1


def test_a_pack_with_every_credit_spent_is_not_refunded():
    reader = UserFactory()
    pack = buy_pack(reader, 1)
    spend(reader, BookFactory(minimum_price_cents=999))
    assert "Every credit" in refunds.refund_refusal(pack, reader)
    with pytest.raises(refunds.RefundError):
        refunds.request_refund(order_id=pack.pk, user=reader)
    assert audit().ok


def test_a_denied_pack_refund_gives_the_credits_back(settings):
    settings.REFUND_AUTO_LIMIT = 0  # every refund waits for an admin
    reader, admin = UserFactory(), UserFactory(is_staff=True)
    pack = buy_pack(reader, 3)
    pending = refunds.request_refund(order_id=pack.pk, user=reader)
    assert pending.status == Refund.Status.REQUESTED and pending.amount_cents == 4000
    assert credits.balance(reader) == 0  # held while an admin looks
    assert audit().ok
    refunds.deny_refund(refund_id=pending.pk, admin=admin, note="used too often")
    assert credits.balance(reader) == 3
    assert audit().ok


def test_two_tabs_spending_the_last_credit_at_once(transactional_db):
    """PostgreSQL: both requests lock the reader; one spends, the other is refused."""
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    reader = UserFactory()
    buy_pack(reader, 1)
    books = [BookFactory(minimum_price_cents=999) for _ in range(2)]
    barrier, results = threading.Barrier(2), []

    def attempt(book):
        try:
            barrier.wait()
            results.append(spend(reader, book))
        except credits.CreditError as exc:
            results.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=attempt, args=(b,)) for b in books]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    orders = [r for r in results if isinstance(r, Order)]
    errors = [r for r in results if isinstance(r, credits.CreditError)]
    assert len(orders) == 1 and len(errors) == 1
    assert "no credits" in str(errors[0])
    assert credits.balance(reader) == 0
    assert CreditEntry.objects.filter(kind="spent").count() == 1
    assert audit().ok


def test_books_bought_with_credits_count_as_sales_on_the_dashboard(settings):
    from payments.earnings import date_range, earnings_for

    settings.CREDIT_PACKS = {3: 1000}
    reader, ada = UserFactory(), AuthorFactory()
    book = BookFactory(minimum_price_cents=999, authors=[ada])
    buy_pack(reader, 3)
    spend(reader, book)
    row = earnings_for(ada, date_range("all")).books[0]
    assert (row.copies, row.gross_cents, row.royalties_cents) == (1, 333, royalty_for(333))


def test_granted_credits_carry_no_cash_so_the_book_earns_nothing_and_the_ledger_holds():
    reader, book = UserFactory(), BookFactory(minimum_price_cents=999)
    credits.grant_credits(user=reader, credits=2)
    assert credits.balance(reader) == 2
    order = spend(reader, book)
    assert (order.amount_cents, order.royalty_cents, order.is_paid) == (0, 0, True)
    assert owns(reader, book) and credits.balance(reader) == 1
    with pytest.raises(credits.CreditError):
        credits.grant_credits(user=reader, credits=0)
    assert audit().ok


def test_the_book_page_offers_a_readers_credits_and_the_cached_page_keeps_them_private(
    client, django_assert_num_queries
):
    book = BookFactory()
    reader = UserFactory()
    buy_pack(reader, 3)
    url = reverse("catalog:book", args=[book.slug])
    client.get(url)  # an anonymous visit fills the page cache

    client.force_login(reader)
    html = client.get(url).content.decode()
    assert "You have 3 credits." in html and "Buy with 1 credit" in html

    client.logout()
    with django_assert_num_queries(0):  # the cached page, unchanged by the reader's visit
        html = client.get(url).content.decode()
    assert "You have 3 credits" not in html and "Buy with 1 credit" not in html
    assert "buy them here" in html
