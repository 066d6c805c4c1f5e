"""The purchase path of a book launch (bench/launch.py) does little per purchase.

Each step of a card purchase through the HTML forms (place the order, open the
payment page, pay with the demo card) asks the database a flat, small number of
queries, without weakening what the steps guarantee: one order per checkout
page, ownership decided under the reader's lock, one charge per book.
"""

import uuid
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from library.services import grant_entitlement, owns, revoke_entitlement
from payments import services
from payments.models import Order
from tests.factories import BookFactory

pytestmark = pytest.mark.django_db

VISA = "4242 4242 4242 4242"


@pytest.fixture
def book():
    return BookFactory(minimum_price_cents=999)


def _sql(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries]


def _statements(sql: list[str]) -> list[str]:
    """The statements that do work: not the savepoints (the test's own transaction
    turns each outermost ``atomic`` into one)."""
    return [s for s in sql if "SAVEPOINT" not in s]


def _steps(client, book):
    """Place the order, open its payment page, pay: the queries of each step."""
    counts = {}
    checkout = reverse("payments:checkout", args=[book.slug])
    assert client.get(checkout, {"amount": "19.50"}).status_code == 200  # the page before
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            reverse("payments:pay", args=[book.slug]),
            {"amount": "19.50", "checkout_token": str(uuid.uuid4())},
        )
    assert response.status_code == 302
    counts["place order"] = _sql(queries)
    pay_url = response["Location"]
    with CaptureQueriesContext(connection) as queries:
        assert client.get(pay_url).status_code == 200
    counts["payment page"] = _sql(queries)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(pay_url, {"card_number": VISA, "expiry": "12/34", "cvc": "123"})
    assert response.status_code == 302
    counts["demo card"] = _sql(queries)
    return counts


def test_each_step_of_a_card_purchase_asks_few_queries(client, reader, book):
    _steps(client, BookFactory(minimum_price_cents=999))  # warm: session, user and page caches
    steps = _steps(client, book)

    # Before: 5, 5 and 19 statements, and 2, 0 and 6 savepoints outside tests (the
    # ownership check was two queries, asked four times in a purchase; the order's
    # insert and the grant each had a savepoint of their own; the payment page read
    # back the reference it had just written). Then 16 for the card: the ownership
    # was checked before the transaction and again in it, the grant and the receipt
    # were each a SELECT, a savepoint and an INSERT, and the view read the status back.
    sizes = {name: len(_statements(sql)) for name, sql in steps.items()}
    assert sizes == {"place order": 4, "payment page": 3, "demo card": 12}, steps
    # The test's transaction adds one savepoint (and its release) per outermost atomic.
    assert len(steps["place order"]) - sizes["place order"] == 2
    assert len(steps["demo card"]) - sizes["demo card"] == 2  # one transaction, no savepoint
    card = steps["demo card"]
    assert sum('"library_entitlement"' in s and s.startswith("SELECT") for s in card) == 1
    assert not any("storefront_emaildelivery" in s and s.startswith("SELECT") for s in card)
    assert owns(reader, book)
    assert Order.objects.get(buyer=reader, book=book).status == Order.Status.PAID


def test_ownership_is_asked_after_the_readers_lock_in_a_statement_of_its_own(reader, book):
    """A statement that waits for a row lock answers its subqueries from the snapshot
    it took before waiting: the check must follow the lock, never ride on it."""
    order = services.place_order(
        buyer=reader, book=book, amount_cents=1950, checkout_token=uuid.uuid4()
    )
    with CaptureQueriesContext(connection) as queries:
        assert services.mark_paid(order_id=order.pk, amount_cents=1950)
    sql = _sql(queries)
    lock = next(i for i, s in enumerate(sql) if 'FROM "accounts_user"' in s)
    check = next(i for i, s in enumerate(sql) if '"library_entitlement"' in s)
    assert lock < check
    assert '"library_entitlement"' not in sql[lock]


def test_ownership_answers_both_questions_in_one_query(reader, book):
    assert services.ownership(reader, book) == (False, False)

    order = services.place_order(
        buyer=reader, book=book, amount_cents=1950, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=order.pk, amount_cents=1950)
    with CaptureQueriesContext(connection) as queries:
        assert services.ownership(reader, book) == (True, True)
    assert len(queries.captured_queries) == 1
    assert services.ownership(reader, book, exclude=order) == (True, False)

    revoke_entitlement(user=reader, book=book)  # removed from the library: still paid for
    assert services.ownership(reader, book) == (False, True)
    assert not services.owned_elsewhere(order)

    other = BookFactory()
    grant_entitlement(user=reader, book=other)  # a grant, no order
    assert services.ownership(reader, other) == (True, False)


def test_a_page_posted_twice_at_once_answers_the_winners_order(transactional_db, reader, book):
    """Both posts found no order for the page; the loser's insert fails on the unique
    token and, with no savepoint around it, its transaction rolls back: it answers
    with the winner's order instead of an error (outside any test transaction, as
    a request runs it)."""
    token = uuid.uuid4()
    winner = services.place_order(buyer=reader, book=book, amount_cents=1950, checkout_token=token)
    real_lookup = services._order_of_page
    lookups = []

    def first_lookup_misses(buyer, checkout_token):
        lookups.append(checkout_token)
        return None if len(lookups) == 1 else real_lookup(buyer, checkout_token)

    with mock.patch.object(services, "_order_of_page", side_effect=first_lookup_misses):
        loser = services.place_order(
            buyer=reader, book=book, amount_cents=1950, checkout_token=token
        )

    assert loser.pk == winner.pk
    assert len(lookups) == 2
    assert Order.objects.filter(buyer=reader).count() == 1


def test_the_payment_page_links_the_payment_once(reader, book):
    order = services.place_order(
        buyer=reader, book=book, amount_cents=1950, checkout_token=uuid.uuid4()
    )
    session = services.start_payment(order)
    assert order.gateway_reference == session.reference
    assert Order.objects.get(pk=order.pk).gateway_reference == session.reference

    stale = Order.objects.get(pk=order.pk)
    stale.gateway_reference = ""  # a second tab's copy, read before the first linked it
    with (
        mock.patch(
            "payments.gateways.demo.DemoGateway.start_payment",
            return_value=type(session)(reference="demo_another"),
        ),
        pytest.raises(services.GatewayError),
    ):
        services.start_payment(stale)
    assert Order.objects.get(pk=order.pk).gateway_reference == session.reference


def test_the_shared_daily_sum_is_written_last_in_the_sale(reader, book):
    """The daily-sum shard is the one row concurrent sales of a book share (locked
    until commit): the sale writes it after the grant and the receipt, just before
    the webhooks' receivers read the ledger."""
    order = services.place_order(
        buyer=reader, book=book, amount_cents=1950, checkout_token=uuid.uuid4()
    )
    with CaptureQueriesContext(connection) as queries:
        assert services.mark_paid(order_id=order.pk, amount_cents=1950)
    sql = _statements(_sql(queries))
    daily = next(i for i, s in enumerate(sql) if "INSERT INTO payments_ledgerdaily" in s)
    grant = next(i for i, s in enumerate(sql) if s.startswith('INSERT INTO "library_entitlement"'))
    receipt = next(  # SQLite says INSERT OR IGNORE INTO
        i for i, s in enumerate(sql) if s.startswith("INSERT") and '"storefront_emaildelivery"' in s
    )
    assert grant < daily and receipt < daily
    assert all("webhooks_" in s or "payments_order" in s for s in sql[daily + 1 :]), sql[daily:]
