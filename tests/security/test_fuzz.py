"""Property tests (hypothesis) of what strangers can send us: prices, checkout
forms and webhook payloads. No input may cause a 500, and no order may ever be
paid at a price other than the one the reader chose and the book allows.

Each database-backed property runs its examples inside one test (one transaction):
the objects are built in the test, the examples share them, and the ledger is
audited once all examples ran.
"""

import json
import re
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, example, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from catalog.models import Book
from core.money import (
    ABSURD_CENTS,
    PriceError,
    format_cents,
    format_plain,
    parse_price,
)
from payments import webhooks
from payments.forms import AmountForm
from payments.ledger import audit
from payments.models import LedgerTransaction, Order, WebhookEvent
from payments.pricing import amount_error
from tests.factories import BookFactory, UserFactory
from tests.payments.conftest import (
    WEBHOOK_SECRET,
    localstripe,  # noqa: F401 (a fixture: one localstripe server for this module's tests)
    signature,
    stripe_order,
)

# Modest and deterministic in time: no deadline (a slow CI machine is not a bug),
# no example database written into the work tree.
FAST = examples(max_examples=300, deadline=None, database=None)
DB = examples(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text shaped like a price, and its near misses: what a fuzzer finds slowly by itself.
price_like = st.from_regex(
    r"\A\s?\$?\s?(\d{1,3}(,\d{3}){0,3}|\d{1,13})(\.\d{0,4})?\s?\Z", fullmatch=True
)
price_edges = st.sampled_from(
    [
        "0", "0.00", "0.98", "0.99", "14.98", "14.99", "$14.99", "1,499", "1,499.00",
        "499.99", "500", "500.00", "500.01", "-0", "-14.99", "1e3", "NaN", "Infinity",
        "14.999", "14,99", "١٤.٩٩", "１４.９９", "14.99\x00", "\u200b14.99", "0x10",
        "14.99.99", "$$14.99", "14 .99", " ", "",
    ]
)  # fmt: skip
price_text = st.one_of(price_like, price_edges, st.text(max_size=30))


def oracle_cents(text: str) -> int:
    """What an accepted price must be worth: the digits, read exactly."""
    digits = re.sub(r"[\s$,]", "", text)
    return int(Decimal(digits) * 100)


# --- (a) the one price parser ---------------------------------------------------------


@FAST
@given(text=st.one_of(price_text, st.none(), st.integers(), st.floats(), st.decimals()))
def test_the_price_parser_accepts_exact_cents_or_refuses_with_a_price_error(text):
    try:
        cents = parse_price(text)
    except PriceError as exc:
        assert str(exc)  # a message fit to show
        return
    assert type(cents) is int  # never a float, never a Decimal
    assert 0 <= cents <= ABSURD_CENTS
    assert cents == oracle_cents(str(text))
    assert parse_price(format_cents(cents)) == cents
    assert parse_price(format_plain(cents)) == cents


# --- (b) the checkout form and the checkout POSTs ---------------------------------------


@FAST
@given(text=price_text)
def test_the_amount_form_either_refuses_or_cleans_to_an_amount_the_book_allows(text):
    book = Book(minimum_price_cents=1499, suggested_price_cents=2499)  # never saved

    form = AmountForm({"amount": text}, book=book)

    if form.is_valid():
        cents = form.cleaned_data["amount"]
        assert cents == parse_price(text) and amount_error(book, cents) is None
        assert 1499 <= cents <= 500_00
    else:
        assert form.errors["amount"]


@pytest.mark.django_db
def test_no_checkout_post_is_a_500_and_every_paid_order_is_at_the_chosen_allowed_price(client):
    books = {
        "paid": BookFactory(slug="paid", minimum_price_cents=1499, suggested_price_cents=2499),
        "pay-what-you-want": BookFactory(
            slug="pay-what-you-want", minimum_price_cents=0, suggested_price_cents=500
        ),
        "free": BookFactory(slug="free", minimum_price_cents=0, suggested_price_cents=0),
    }
    shared_token = str(uuid.uuid4())  # two examples' "pages" may share one
    tokens = st.one_of(
        st.uuids().map(str),
        st.just(shared_token),
        st.text(max_size=40),
        st.sampled_from(["", "null", "00000000-0000-0000-0000-000000000000", "x" * 400]),
    )
    # (reader, token) -> the amount the first valid page with that token placed
    placed: dict[tuple[int, str], int] = {}
    readers = []

    @DB
    @given(
        which=st.sampled_from(sorted(books)),
        amount=st.one_of(
            price_text,
            st.integers(0, 80_00).map(format_plain),  # around the books' ranges
            st.integers(0, 80_00).map(format_cents),
        ),
        token=tokens,
        same_reader=st.booleans(),
        pay_by_card=st.booleans(),
    )
    # Always tried, whatever else is drawn: a card payment and a free copy.
    @example(
        which="paid", amount="$19.50", token=str(uuid.uuid4()), same_reader=False, pay_by_card=True
    )
    @example(
        which="free", amount="0", token=str(uuid.uuid4()), same_reader=False, pay_by_card=False
    )
    def one_checkout(which, amount, token, same_reader, pay_by_card):
        book = books[which]
        if not (same_reader and readers):
            readers.append(UserFactory())
        reader = readers[-1]
        client.force_login(reader)

        summary = client.post(reverse("payments:checkout", args=[book.slug]), {"amount": amount})
        response = client.post(
            reverse("payments:pay", args=[book.slug]), {"amount": amount, "checkout_token": token}
        )

        assert summary.status_code in (200, 400)
        assert response.status_code in (200, 302, 400)
        try:
            chosen = parse_price(amount)
        except PriceError:
            chosen = None
        valid = chosen is not None and amount_error(book, chosen) is None
        if valid and response.status_code == 302:
            placed.setdefault((reader.pk, str(uuid.UUID(token))), chosen)
        order = Order.objects.filter(buyer=reader, book=book).order_by("-pk").first()
        if pay_by_card and order is not None and order.status == Order.Status.PENDING:
            card = client.post(
                reverse("payments:pay_order", args=[order.public_id]),
                {"card_number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123"},
            )
            assert card.status_code == 302

        for order in Order.objects.filter(buyer=reader):
            assert order.amount_cents == placed[(reader.pk, str(order.checkout_token))]
            assert amount_error(order.book, order.amount_cents) is None
            if order.status == Order.Status.PAID:
                assert order.gateway == ("free" if order.amount_cents == 0 else "demo")
                [sale] = LedgerTransaction.objects.filter(order=order, kind="sale")
                assert sum(e.amount_cents for e in sale.entries.all()) == 0

    one_checkout()

    # The properties were not vacuous: orders were placed, and paid both ways.
    assert Order.objects.filter(status="paid", gateway="demo").exists()
    assert Order.objects.filter(status="paid", gateway="free").exists()
    report = audit()
    assert report.ok, report.problems


# --- (c) the Stripe webhook -----------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    # Nothing in these tests may reach a real gateway: an address where nothing listens.
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    settings.PAYMENT_GATEWAY = "stripe"
    return WEBHOOK_SECRET


@pytest.mark.django_db
def test_unsigned_or_forged_webhooks_are_refused_without_a_trace(client, webhook_secret):
    @DB
    @given(
        body=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())),
        header=st.one_of(
            st.none(),
            st.text(max_size=80),
            st.builds(lambda t, v: f"t={t},v1={v}", st.integers(), st.text(max_size=64)),
            st.binary(max_size=80).map(lambda b: signature(b)),  # signed, but another body
            st.just("wrong-secret"),
        ),
    )
    def one_delivery(body, header):
        if header == "wrong-secret":
            header = signature(body, secret="whsec_someone_else")
        extra = {"HTTP_STRIPE_SIGNATURE": header} if header is not None else {}

        response = client.post(webhooks_path(), data=body, content_type="application/json", **extra)

        assert response.status_code == 400
        assert not WebhookEvent.objects.exists()

    one_delivery()


def webhooks_path():
    return reverse("payments:stripe_webhook")


@pytest.mark.django_db
def test_signed_arbitrary_json_is_answered_without_a_500(client, webhook_secret):
    """Any JSON at all, correctly signed: refused as malformed or recorded as ignored."""

    @DB
    @given(payload=json_values)
    def one_delivery(payload):
        body = json.dumps(payload).encode()

        response = post_signed(client, body)

        assert response.status_code in (200, 400)

    one_delivery()


def post_signed(client, body: bytes):
    return client.post(
        webhooks_path(),
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature(body),
    )


@pytest.mark.services
@pytest.mark.django_db
def test_signed_events_about_our_payments_never_pay_an_order_at_a_wrong_amount(
    client,
    localstripe,  # noqa: F811 (the fixture imported above)
    settings,
):
    """Signed events of every handled type, naming our real PaymentIntents, with
    whatever amounts and statuses they like. The handler re-reads each payment from
    the gateway (localstripe): only the payment that really succeeded at the order's
    amount may be paid, and only once."""
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_API_BASE = localstripe.url
    settings.STRIPE_SECRET_KEY = "sk_test_storefront"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    book = BookFactory(minimum_price_cents=999)
    honest = stripe_order(UserFactory(), book, amount_cents=1950)
    localstripe.confirm(honest.gateway_reference, "pm_card_visa")
    # Captured 1950 at the gateway, but the order says 2500: must never be fulfilled.
    tampered = stripe_order(UserFactory(), book, amount_cents=1950)
    localstripe.confirm(tampered.gateway_reference, "pm_card_visa")
    Order.objects.filter(pk=tampered.pk).update(amount_cents=2500)
    unpaid = stripe_order(UserFactory(), book, amount_cents=1950)  # never confirmed
    references = [o.gateway_reference for o in (honest, tampered, unpaid)]

    ids = st.one_of(st.sampled_from(references), st.text(max_size=30), st.none(), st.integers())
    amounts = st.one_of(st.integers(), st.sampled_from([1950, 2500, 0, -1950]), st.text(max_size=8))
    payment_object = st.fixed_dictionaries(
        {"id": ids, "payment_intent": ids},
        optional={
            "amount": amounts,
            "amount_received": amounts,
            "amount_paid": amounts,
            "status": st.sampled_from(["succeeded", "paid", "failed", "canceled", ""]),
            "subscription": ids,
            "metadata": json_values,
        },
    )
    event_ids = st.one_of(st.sampled_from(["evt_1", "evt_2", "evt_3"]), st.text(max_size=20))
    # Events as Stripe would send them about our payments, amounts lying or not ...
    plausible = st.fixed_dictionaries(
        {
            "id": event_ids,
            "type": st.sampled_from(sorted(webhooks.PAYMENT_EVENTS | webhooks.REFUND_EVENTS)),
            "data": st.fixed_dictionaries(
                {
                    "object": st.fixed_dictionaries(
                        {
                            "id": st.sampled_from(references),
                            "payment_intent": st.sampled_from(references),
                            "amount": amounts,
                            "amount_received": amounts,
                            "status": st.just("succeeded"),
                        }
                    )
                }
            ),
        }
    )
    # ... and anything else of the right outline.
    wild = st.fixed_dictionaries(
        {
            "id": event_ids,
            "type": st.one_of(st.sampled_from(sorted(webhooks.HANDLED)), st.text(max_size=20)),
            "data": st.one_of(
                st.fixed_dictionaries({"object": payment_object}),
                st.fixed_dictionaries({"object": json_values}),
            ),
        },
        optional={"object": st.just("event"), "livemode": st.booleans()},
    )

    fresh_ids = iter(range(10**9))

    @examples(DB, max_examples=150)
    @given(payload=st.one_of(plausible, wild), replay=st.sampled_from([False, False, True]))
    # Always tried: the honest payment's own success event, lying about the amount.
    @example(
        payload={
            "id": "evt_honest",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": honest.gateway_reference, "amount_received": 1}},
        },
        replay=True,
    )
    def one_event(payload, replay):
        if not replay and isinstance(payload, dict):
            payload = {**payload, "id": f"evt_fresh_{next(fresh_ids)}"}  # not a replay

        response = post_signed(client, json.dumps(payload).encode())

        # 503 only ever means "could not re-read it from the gateway, retry".
        assert response.status_code in (200, 400, 503), response.content
        if response.status_code == 503:
            assert response.content == b"provider unavailable, retry"
        tampered.refresh_from_db()
        unpaid.refresh_from_db()
        # A signed "payment failed" may fail them; nothing may pay them.
        assert tampered.status != "paid" and unpaid.status != "paid"
        for order in Order.objects.filter(status=Order.Status.PAID):
            assert order.pk == honest.pk and order.amount_cents == 1950
            assert LedgerTransaction.objects.filter(order=order, kind="sale").count() == 1

    one_event()

    honest.refresh_from_db()
    assert honest.status == "paid"  # the properties were not vacuous
    report = audit()
    assert report.ok, report.problems
