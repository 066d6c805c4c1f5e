import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from catalog.models import Book
from core.models import EmailDelivery
from library.models import Entitlement
from payments import ledger_guards, services
from payments.ledger import audit
from payments.models import LedgerEntry, Order
from tests.factories import AuthorFactory, BookFactory, UserFactory
from tests.payments.conftest import DECLINED, VISA, card, pay

pytestmark = pytest.mark.django_db


def checkout(client, book, amount):
    return client.post(reverse("payments:checkout", args=[book.slug]), {"amount": amount})


def test_a_logged_out_reader_is_sent_to_log_in_and_keeps_the_amount(client, book):
    response = checkout(client, book, "19.50")

    assert response.status_code == 302
    assert response["Location"] == (
        reverse("account_login") + "?next=/checkout/the-book/%3Famount%3D19.50"
    )


def test_the_summary_shows_book_amount_author_earnings_and_the_guarantee(client, reader, book):
    html = checkout(client, book, "19.50").content.decode()

    assert 'data-testid="amount">$19.50<' in html
    assert 'data-testid="author-earns">$15.60<' in html
    assert "100% refund in two clicks" in html
    assert 'name="checkout_token"' in html


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("10", "The minimum price for this book is $14.99."),
        ("0.5", "The minimum price for this book is $14.99."),
        ("abc", "Enter a price like 24.99."),
        ("-5", "The price cannot be negative."),
        ("1000000000000", "That price is too large."),
        ("500.01", "You can pay at most"),
        ("", "Enter the amount you want to pay."),
    ],
)
def test_bad_amounts_are_form_errors_and_create_no_order(client, reader, book, amount, message):
    response = checkout(client, book, amount)
    assert response.status_code == 400
    assert message in response.content.decode()

    response = pay(client, book, amount)
    assert response.status_code == 400
    assert not Order.objects.exists()


def test_unknown_or_unlisted_books_are_404(client, reader):
    assert checkout(client, type("B", (), {"slug": "nope"}), "20").status_code == 404
    draft = BookFactory(status="draft")
    assert checkout(client, draft, "20").status_code == 404
    assert pay(client, draft, "20").status_code == 404


def test_paying_with_the_demo_card_fulfils_the_order(
    client, reader, book, django_capture_on_commit_callbacks, mailoutbox
):
    response = pay(client, book, "19.50")
    order = Order.objects.get()
    assert response["Location"] == reverse("payments:pay_order", args=[order.public_id])
    assert (order.status, order.amount_cents, order.royalty_cents, order.gateway) == (
        "pending",
        1950,
        1560,
        "demo",
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = card(client, order, VISA)

    assert response["Location"] == reverse("library:index")
    order.refresh_from_db()
    assert order.status == "paid" and order.paid_at
    assert Entitlement.objects.get(user=reader, book=book).is_active
    assert Book.objects.get(pk=book.pk).sales_count == 1
    assert audit().ok
    entries = sorted((e.account, e.amount_cents) for e in LedgerEntry.objects.all())
    assert entries == [("author", 1560), ("platform", 390), ("processor", -1950)]
    assert [m.subject for m in mailoutbox] == [f"Your receipt for {book.title}"]
    receipt = mailoutbox[0]
    assert "$19.50" in receipt.body and "$15.60" in receipt.body and "/library/" in receipt.body
    assert "refund until" in receipt.body
    assert "$19.50" in receipt.alternatives[0][0]
    assert book.title in client.get(reverse("library:index")).content.decode()


def test_a_declined_card_fails_the_order_and_lets_the_reader_try_again(client, reader, book):
    pay(client, book, "19.50")
    order = Order.objects.get()

    response = card(client, order, DECLINED)

    assert response.status_code == 402
    assert "Your card was declined." in response.content.decode()
    order.refresh_from_db()
    assert order.status == "failed"
    assert not Entitlement.objects.exists() and not LedgerEntry.objects.exists()
    # Try again: a new checkout page, a new order, and this time it works.
    assert checkout(client, book, "19.50").status_code == 200
    pay(client, book, "19.50")
    retry = Order.objects.exclude(pk=order.pk).get()
    card(client, retry, VISA)
    retry.refresh_from_db()
    assert retry.status == "paid"


def test_a_double_click_or_reload_creates_one_order_and_one_payment(client, reader, book):
    token = str(uuid.uuid4())
    pay(client, book, "20", token)
    pay(client, book, "20", token)
    order = Order.objects.get()

    card(client, order, VISA)
    card(client, order, VISA)

    assert Order.objects.filter(status="paid").count() == 1
    assert LedgerEntry.objects.filter(account="processor").count() == 1
    assert EmailDelivery.objects.filter(key=f"receipt:order-{order.pk}").count() == 1


def test_buying_a_book_you_own_is_refused_with_a_link_to_the_library(client, reader, book):
    pay(client, book, "20")
    card(client, Order.objects.get(), VISA)

    for response in (checkout(client, book, "20"), pay(client, book, "20")):
        html = response.content.decode()
        assert "You own this book already" in html and reverse("library:index") in html
    assert Order.objects.count() == 1


def test_a_free_book_skips_payment(client, reader):
    free = BookFactory(minimum_price_cents=0, suggested_price_cents=0)

    response = pay(client, free, "0")

    assert response["Location"] == reverse("library:index")
    order = Order.objects.get()
    assert (order.status, order.gateway, order.amount_cents) == ("paid", "free", 0)
    assert Entitlement.objects.get(user=reader, book=free).is_active
    assert audit().ok
    assert "free" in pay(client, free, "5").content.decode().lower()


def test_a_zero_minimum_book_can_be_had_free_or_paid(client, reader):
    pwyw = BookFactory(minimum_price_cents=0, suggested_price_cents=1000)
    assert pay(client, pwyw, "0.50").status_code == 400
    assert pay(client, pwyw, "0")["Location"] == reverse("library:index")


def test_someone_elses_order_is_404(client, reader, book):
    pay(client, book, "20")
    order = Order.objects.get()
    client.force_login(UserFactory())

    assert client.get(reverse("payments:order", args=[order.public_id])).status_code == 404
    assert card(client, order, VISA).status_code == 404
    assert client.get(reverse("payments:order", args=[uuid.uuid4()])).status_code == 404
    order.refresh_from_db()
    assert order.status == "pending"


def test_the_receipt_page_and_history(client, reader, book):
    pay(client, book, "19.50")
    order = Order.objects.get()
    card(client, order, VISA)

    html = client.get(reverse("payments:order", args=[order.public_id])).content.decode()
    assert "Receipt" in html and "$19.50" in html and "$15.60" in html and "refund until" in html
    history = client.get(reverse("payments:orders")).content.decode()
    assert order.get_absolute_url() in history


def test_a_co_authored_sale_splits_the_royalty_exactly(reader):
    first, second = AuthorFactory(), AuthorFactory()
    book = BookFactory(authors=[first, second], minimum_price_cents=999)
    book.authorships.filter(author=first).update(royalty_share=60)
    book.authorships.filter(author=second).update(royalty_share=40)
    order = services.place_order(
        buyer=reader, book=book, amount_cents=2499, checkout_token=uuid.uuid4()
    )

    services.mark_paid(order_id=order.pk, amount_cents=2499)

    parts = {e.author_id: e.amount_cents for e in LedgerEntry.objects.filter(account="author")}
    assert parts == {first.pk: 1199, second.pk: 800}
    assert LedgerEntry.objects.get(account="platform").amount_cents == 500


def test_a_payment_for_a_different_amount_is_not_fulfilled(reader, book):
    order = services.place_order(
        buyer=reader, book=book, amount_cents=2000, checkout_token=uuid.uuid4()
    )

    assert services.mark_paid(order_id=order.pk, amount_cents=1500) is False

    order.refresh_from_db()
    assert order.status == "pending" and "Captured 1500" in order.failure_reason
    assert not Entitlement.objects.exists()


def test_audit_ledger_command_passes_and_fails(reader, book, capsys):
    order = services.place_order(
        buyer=reader, book=book, amount_cents=2000, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=order.pk, amount_cents=2000)
    call_command("audit_ledger")
    assert "The ledger balances." in capsys.readouterr().out

    if ledger_guards.enforced_by_database():  # as if someone went around PostgreSQL's guards
        with connection.cursor() as cursor:
            ledger_guards.disable(cursor)
    LedgerEntry.objects.filter(account="platform").update(amount_cents=1)
    with pytest.raises(CommandError, match="problem"):
        call_command("audit_ledger")
    assert "sums to" in capsys.readouterr().err
