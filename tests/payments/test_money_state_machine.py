"""A model-based test of the whole money state machine (issue #17, point 8).

Hypothesis plays readers who behave like real customers: they open several
checkout tabs for the same book, double-click, pay by card on the demo page,
pay in a Stripe tab whose webhooks arrive late, twice or out of order, spend
credits, buy packs and membership periods, ask for refunds (in time, too late,
twice), give books as gifts (claimed, passed on, refunded while unclaimed), buy
team seats (claimed, downloaded, refunded while unused), while authors are paid
out and payouts fail. After every step the
store's money must still add up:

- a reader has at most one paid order per book, owns the book exactly while
  such a "granting" order exists, and through that very order;
- every cent a gateway captured is in the ledger, ``audit()`` is clean, and what
  each reader was charged minus refunded (the gateway's own record, kept by the
  test) equals what the ledger's processor account says about their orders;
- a reader is never left charged for a book they already owned: per reader and
  book, the money kept is the granting order's amount;
- credit balances never go negative;
- each author's ledger balance is the royalties of their paid orders minus what
  was paid out to them (computed from orders and payouts, not from the ledger).

The Stripe tab is modelled at the gateway boundary: Stripe captures the money
when the reader confirms, and ``payment_intent.*`` events reach the store later
as ``services.mark_paid``/``mark_failed`` calls, exactly as ``webhooks`` makes
them once it has re-read the PaymentIntent (that handler is exercised with real
signed events against localstripe in the last test here). Refunds of those
orders go through the demo gateway, whose calls the test records.

Each example starts from an empty money state: the test is transactional (so
on-commit work runs as in production) and the machine deletes every payments,
library and outbox row before it begins.
"""

import contextlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as examples
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from catalog.models import Book
from core.models import EmailDelivery
from library.models import Entitlement
from payments import (
    cart_payments,
    coupons,
    credit_purchases,
    gift_delivery,
    gifts,
    ledger_guards,
    membership_billing,
    payouts,
    refunds,
    services,
    team_licences,
)
from payments.gateways.demo import DECLINED_CARD, SUCCEEDING_CARD, DemoGateway
from payments.ledger import audit
from payments.models import (
    CartLine,
    Coupon,
    CouponRedemption,
    CreditEntry,
    Gift,
    LedgerEntry,
    Order,
    Payment,
    Payout,
    PayoutAccount,
    Refund,
    Seat,
)
from payments.pricing import price_range
from payments.royalties import royalty_for, split_royalty
from tests.factories import AuthorFactory, BookFactory, UserFactory, listed_bundle
from tests.payments.conftest import event_payload, post_event, stripe_order

pytestmark = pytest.mark.django_db(transaction=True)

# Bounded: about a minute and a half on PostgreSQL (~500 steps, 7 invariants after each).
MACHINE = examples(
    max_examples=20,
    stateful_step_count=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

PAID = Order.Status.PAID
# A captured payment whose refund is on its way (the gateway has not answered yet).
REFUND_IN_FLIGHT = [
    Refund.Status.REQUESTED,
    Refund.Status.APPROVED,
    Refund.Status.PROCESSING,
    Refund.Status.FAILED,
]
# How the reader goes on from a checkout: the card page, a Stripe tab, or later.
PAY_NOW = st.sampled_from(["card", "card", "stripe", "later"])
# Far enough that every membership period has ended; past the refund window.
LATER = timedelta(days=61)


class GatewayRecord:
    """What the demo gateway really did: captures and refunds, as a bank would see them."""

    def __init__(self):
        self.charges = 0
        self.refunds = {}  # idempotency key -> (reference, amount): the same key is one refund

    def install(self, monkeypatch):
        charge, refund = DemoGateway.charge, DemoGateway.refund

        def recorded_charge(card_number):
            succeeded, message = charge(card_number)
            self.charges += succeeded
            return succeeded, message

        def recorded_refund(gateway, *, reference, amount_cents, idempotency_key, whole=True):
            outcome = refund(
                gateway,
                reference=reference,
                amount_cents=amount_cents,
                idempotency_key=idempotency_key,
                whole=whole,
            )
            if outcome.succeeded:
                self.refunds.setdefault(idempotency_key, (reference, outcome.amount_cents))
            return outcome

        monkeypatch.setattr(DemoGateway, "charge", staticmethod(recorded_charge))
        monkeypatch.setattr(DemoGateway, "refund", recorded_refund)

    def refunded_by_order(self) -> dict[str, int]:
        """Refunded cents per order public id: a refund's idempotency key names its
        order (refunds.refund_key), so a cart's partial refunds count for their line
        only, though the lines share one payment reference."""
        totals = {}
        for key, (_reference, amount) in self.refunds.items():
            public_id = key.removeprefix("order-").removesuffix("-refund")
            totals[public_id] = totals.get(public_id, 0) + amount
        return totals


@dataclass(frozen=True)
class Tab:
    """One checkout page the reader opened: its token, the book and the amount typed."""

    reader: int
    book: int
    amount_cents: int
    token: uuid.UUID

    def __repr__(self):
        return f"Tab(reader={self.reader}, book={self.book}, amount={self.amount_cents})"


@dataclass(frozen=True)
class Placed:
    """An order the reader can reach from a tab, the credits page or the membership page."""

    order_id: int

    def __repr__(self):
        return f"Order({self.order_id})"


def money_state_models():
    """Every row of the money state: payments, ownership and the e-mail outbox
    (authors' payout accounts are part of the fixed world)."""
    models = [m for m in apps.get_app_config("payments").get_models() if m is not PayoutAccount]
    return [*models, Entitlement, EmailDelivery]


def empty_money_state(books):
    tables = [model._meta.db_table for model in money_state_models()]
    # TRUNCATE on PostgreSQL (the ledger's append-only triggers guard rows, not the
    # table); DELETEs on SQLite, whose foreign keys are checked at commit.
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in connection.ops.sql_flush(no_style(), tables):
            cursor.execute(sql)
        Book.objects.filter(pk__in=[b.pk for b in books]).update(sales_count=0)


def shift_back(days: int) -> None:
    """Time passes: every moment the money state remembers moves ``days`` into the past."""
    delta = timedelta(days=days)
    with transaction.atomic(), ledger_guards.lifted():  # backdating, the door's one use
        _shift_back(delta)


def _shift_back(delta) -> None:
    Order.objects.filter(paid_at__isnull=False).update(paid_at=F("paid_at") - delta)
    Order.objects.update(created_at=F("created_at") - delta)
    LedgerEntry.objects.update(available_at=F("available_at") - delta)
    Entitlement.objects.filter(refundable_until__isnull=False).update(
        refundable_until=F("refundable_until") - delta
    )
    Refund.objects.update(requested_at=F("requested_at") - delta)
    apps.get_model("payments", "Membership").objects.filter(
        current_period_end__isnull=False
    ).update(current_period_end=F("current_period_end") - delta)


@pytest.fixture
def world(settings, monkeypatch):
    settings.PAYMENT_GATEWAY = "demo"
    # Readers here click far more often than the refund rate limit allows a person.
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "refund": "100000/h/ip,100000/h/account"}
    # A small pack whose credits are worth less than the card minimum (49¢ each).
    settings.CREDIT_PACKS = {1: 15_00, 3: 40_00, 4: 1_99}
    gateway = GatewayRecord()
    gateway.install(monkeypatch)
    alice, bob = AuthorFactory(display_name="Alice"), AuthorFactory(display_name="Bob")
    for author in (alice, bob):
        PayoutAccount.objects.create(author=author, paypal_email=f"{author.slug}@example.com")
    books = [
        # Under $7.99: the royalty has the flat fee.
        BookFactory(minimum_price_cents=4_99, suggested_price_cents=5_99, authors=[alice]),
        # Co-authored 50/50; sold to teams at 20% off a seat.
        BookFactory(
            minimum_price_cents=14_99,
            suggested_price_cents=19_99,
            authors=[alice, bob],
            team_licences=True,
            team_seat_discount_percent=20,
        ),
        BookFactory(minimum_price_cents=9_99, suggested_price_cents=12_00, authors=[bob]),
    ]
    # Both of Bob's books (one co-written with Alice) at one price: 19.99 : 12.00.
    bundle = listed_bundle(books[1:], by=bob, minimum_cents=20_00, suggested_cents=25_00)
    readers = [UserFactory() for _ in range(2)]
    clients = []
    for reader in readers:
        client = Client()
        client.force_login(reader)
        clients.append(client)
    admin = UserFactory(is_staff=True, is_superuser=True)
    return {
        "gateway": gateway,
        "authors": [alice, bob],
        "books": books,
        "readers": readers,
        "clients": clients,
        "admin": admin,
        "bundle": bundle,
    }


def machine_for(world):
    gateway, books, readers, clients = (
        world["gateway"],
        world["books"],
        world["readers"],
        world["clients"],
    )
    authors, admin, bundle = world["authors"], world["admin"], world["bundle"]
    shares_of = {
        book.pk: list(
            book.authorships.order_by("position", "id").values_list("author_id", "royalty_share")
        )
        for book in books
    }
    reader_ids = st.integers(0, len(readers) - 1)
    book_ids = st.integers(0, len(books) - 1)

    class MoneyStateMachine(RuleBasedStateMachine):
        tabs = Bundle("tabs")
        orders = Bundle("orders")

        def __init__(self):
            super().__init__()
            empty_money_state(books)
            gateway.charges, gateway.refunds = 0, {}
            self.channel = {}  # order id -> "card" or "stripe": one payment page per order
            self.captured = {}  # order id -> cents the gateway captured and the store heard of
            self.stripe_captured = {}  # order id -> cents Stripe captured (events may be pending)
            self.events = []  # undelivered Stripe events: (type, order id or ("cart", payment id))
            self.cart_channel = {}  # cart payment id -> "stripe" or "later": not paid on the page
            self.stripe_captured_carts = {}  # payment id -> cents Stripe captured
            self.batches = 0
            # A launch coupon per book: half price, two uses, one per reader.
            self.coupons = [
                Coupon.objects.create(
                    book=book,
                    code="LAUNCH",
                    kind=Coupon.Kind.PERCENT,
                    value=50,
                    starts_at=timezone.now() - timedelta(days=1),
                    max_uses=2,
                )
                for book in books
            ]

        # --- helpers ---------------------------------------------------------------

        def post(self, reader, url, data=None):
            response = clients[reader].post(url, data or {})
            assert response.status_code < 500, (url, response.status_code)
            return response

        def order_by_token(self, reader, token):
            return Order.objects.filter(buyer=readers[reader], checkout_token=token).first()

        # --- checkout tabs ------------------------------------------------------------

        @rule(
            target=tabs,
            reader=reader_ids,
            book=book_ids,
            above_minimum=st.sampled_from([0, 0, 1, 5_01]),
            pages=st.sampled_from([1, 2]),
        )
        def open_checkout_tabs(self, reader, book, above_minimum, pages):
            """One checkout page, or two at once (a reader who opens tabs freely)."""
            amount = books[book].minimum_price_cents + above_minimum
            return multiple(*(Tab(reader, book, amount, uuid.uuid4()) for _ in range(pages)))

        @rule(target=orders, reader=reader_ids, book=book_ids, first=PAY_NOW, second=PAY_NOW)
        def check_out_the_same_book_in_two_tabs(self, reader, book, first, second):
            """Both checkout pages are submitted before either is paid: two pending
            orders, each with its own payment page, then paid (or not) one by one."""
            amount = books[book].minimum_price_cents
            tabs = [Tab(reader, book, amount, uuid.uuid4()) for _ in range(2)]
            placed = [self.place_the_order(tab, False, "later") for tab in tabs]
            placed = [order for order in placed if isinstance(order, Placed)]  # owned: refused
            for order, pay in zip(placed, (first, second), strict=False):
                self.pay_now(order, pay)
            return multiple(*placed)

        @rule(
            target=orders,
            reader=reader_ids,
            book=book_ids,
            above_minimum=st.sampled_from([0, 0, 1, 5_01]),
            double_click=st.booleans(),
            pay=PAY_NOW,
        )
        def check_out_with_a_coupon(self, reader, book, above_minimum, double_click, pay):
            """A coupon link's checkout: the coupon's lower minimum; used up, used by
            this reader already or owned: refused with nothing placed."""
            coupon = self.coupons[book]
            amount = coupons.coupon_range(price_range(books[book]), coupon).minimum + above_minimum
            token = uuid.uuid4()
            data = {"amount": f"{amount / 100:.2f}", "coupon": "launch", "checkout_token": token}
            for _ in range(2 if double_click else 1):
                self.post(reader, reverse("payments:pay", args=[books[book].slug]), data)
            order = self.order_by_token(reader, token)
            if order is None:
                return multiple()
            assert (order.coupon_id, order.amount_cents) == (coupon.pk, amount)
            assert order.royalty_cents == royalty_for(amount)
            return self.pay_now(Placed(order.pk), pay)

        @rule(target=tabs, tab=tabs)
        def open_another_tab_for_the_same_book(self, tab):
            return Tab(tab.reader, tab.book, tab.amount_cents, uuid.uuid4())

        @rule(target=orders, tab=tabs, double_click=st.booleans(), pay=PAY_NOW)
        def place_the_order(self, tab, double_click, pay):
            url = reverse("payments:pay", args=[books[tab.book].slug])
            data = {"amount": f"{tab.amount_cents / 100:.2f}", "checkout_token": str(tab.token)}
            for _ in range(2 if double_click else 1):
                self.post(tab.reader, url, data)
            order = self.order_by_token(tab.reader, tab.token)
            if order is None:  # the reader owned the book already: refused
                return multiple()
            assert order.amount_cents == tab.amount_cents and order.book_id == books[tab.book].pk
            return self.pay_now(Placed(order.pk), pay)

        def pay_now(self, order, pay):
            """The payment page follows the checkout: pay there, or leave the tab open."""
            if pay == "card":
                self.pay_by_card(order, good_card=True)
            elif pay == "stripe":
                self.stripe_captures_the_payment(order)
            return order

        # --- paying: the demo card page -------------------------------------------------

        @rule(order=orders, good_card=st.sampled_from([True, True, False]))
        def pay_by_card(self, order, good_card):
            if self.channel.setdefault(order.order_id, "card") != "card":
                return  # this order's payment page is Stripe's, in another tab
            placed = Order.objects.get(pk=order.order_id)
            card = SUCCEEDING_CARD if good_card else DECLINED_CARD
            before = gateway.charges
            self.post(
                readers.index(placed.buyer),
                reverse("payments:pay_order", args=[placed.public_id]),
                {"card_number": card, "expiry": "12/34", "cvc": "123"},
            )
            if gateway.charges > before:
                assert order.order_id not in self.captured, "one order charged twice"
                self.captured[order.order_id] = placed.amount_cents

        # --- paying: a Stripe tab and its webhooks -----------------------------------------

        def _stripe_tab(self, order):
            if self.channel.setdefault(order.order_id, "stripe") != "stripe":
                return None
            placed = Order.objects.get(pk=order.order_id)
            if not placed.gateway_reference:
                services.start_payment(placed)  # the Payment Element's PaymentIntent
                placed.refresh_from_db()
            return placed

        @rule(order=orders)
        def stripe_captures_the_payment(self, order):
            """The reader confirms in a Stripe tab: Stripe takes the money at once
            (whatever the store knows); the store hears of it by a later event."""
            placed = self._stripe_tab(order)
            if placed is None or order.order_id in self.stripe_captured:
                return
            self.stripe_captured[order.order_id] = placed.amount_cents
            self.events.append(("payment_intent.succeeded", order.order_id))

        @rule(order=orders)
        def stripe_declines_the_card(self, order):
            placed = self._stripe_tab(order)
            if placed is None or order.order_id in self.stripe_captured:
                return
            self.events.append(("payment_intent.payment_failed", order.order_id))

        @precondition(lambda self: self.events)
        @rule(which=st.integers(0, 20), twice=st.booleans(), keep=st.booleans())
        def stripe_delivers_an_event(self, which, twice, keep):
            """Any pending event, not only the oldest (reordered); maybe twice
            (duplicated); maybe kept to be delivered again later (a retry)."""
            index = which % len(self.events)
            event_type, order_id = self.events[index] if keep else self.events.pop(index)
            for _ in range(2 if twice else 1):
                self._webhook(event_type, order_id)

        def _webhook(self, event_type, order_id):
            """What webhooks.handle_stripe does once it re-read the PaymentIntent: the
            provider's state decides, not the event's type."""
            if isinstance(order_id, tuple):  # an event about a cart's payment
                self._cart_webhook(event_type, order_id[1])
                return
            placed = Order.objects.get(pk=order_id)
            if order_id in self.stripe_captured:
                services.mark_paid(
                    order_id=order_id,
                    amount_cents=self.stripe_captured[order_id],
                    reference=placed.gateway_reference,
                )
                self.captured[order_id] = self.stripe_captured[order_id]
            elif event_type == "payment_intent.payment_failed":
                services.mark_failed(
                    order_id=order_id,
                    reason="Your card was declined.",
                    reference=placed.gateway_reference,
                )

        # --- carts: one payment for several books -----------------------------------------

        @rule(
            target=orders,
            reader=reader_ids,
            picks=st.lists(book_ids, min_size=1, max_size=3, unique=True),
            above_minimum=st.sampled_from([0, 1, 5_01]),
            pay=PAY_NOW,
            double_click=st.booleans(),
        )
        def check_out_a_cart(self, reader, picks, above_minimum, pay, double_click):
            """The reader fills the cart on the book pages and pays it on the cart page
            (demo card), or leaves it for a Stripe tab or for later: one payment, one
            order per line."""
            CartLine.objects.filter(owner=readers[reader]).delete()
            for book in picks:
                amount = books[book].minimum_price_cents + above_minimum
                clients[reader].get(
                    reverse("payments:cart_add", args=[books[book].slug]),
                    {"amount": f"{amount / 100:.2f}"},
                )
            page = clients[reader].get(reverse("payments:cart"))
            token = str(page.context["checkout_token"])
            if pay == "card":
                form = {
                    "checkout_token": token,
                    "version": page.context["contents"].version,
                    "card_number": SUCCEEDING_CARD,
                    "expiry": "12/34",
                    "cvc": "123",
                }
                before = gateway.charges
                for _ in range(2 if double_click else 1):
                    self.post(reader, reverse("payments:cart_checkout"), form)
                payment = Payment.objects.filter(
                    buyer=readers[reader], checkout_token=token
                ).first()
                if payment is None:
                    return multiple()  # refused: a book owned already, nothing charged
                assert gateway.charges - before == 1, "a cart charged more than once"
                self._cart_captured(payment)
            else:
                lines = [
                    cart_payments.LineChoice(line.book, line.amount_cents)
                    for line in page.context["contents"].lines
                ]
                try:
                    payment = cart_payments.place_cart_payment(
                        buyer=readers[reader], lines=lines, checkout_token=uuid.UUID(token)
                    )
                except services.CheckoutError:
                    return multiple()
                cart_payments.start_payment(payment)
                self.cart_channel[payment.pk] = pay
                if pay == "stripe":
                    self.stripe_captures_a_cart(payment.pk)
            placed = [Placed(pk) for pk in payment.orders.values_list("pk", flat=True)]
            for order in placed:
                self.channel[order.order_id] = "cart"  # no payment page of its own
            return multiple(*placed)

        def _cart_captured(self, payment):
            for order_id, amount in payment.orders.values_list("pk", "amount_cents"):
                assert order_id not in self.captured, "one order charged twice"
                self.captured[order_id] = amount

        def stripe_captures_a_cart(self, payment_id):
            if payment_id in self.stripe_captured_carts:
                return
            amount = Payment.objects.get(pk=payment_id).amount_cents
            self.stripe_captured_carts[payment_id] = amount
            self.events.append(("payment_intent.succeeded", ("cart", payment_id)))

        @precondition(lambda self: self.cart_channel)
        @rule(which=st.integers(0, 20), good_card=st.booleans())
        def a_cart_left_for_later_is_paid(self, which, good_card):
            """A cart placed but not yet paid: Stripe takes the money in its tab, or its
            PaymentIntent is declined."""
            payment_id = sorted(self.cart_channel)[which % len(self.cart_channel)]
            if payment_id in self.stripe_captured_carts:
                return
            if good_card:
                self.stripe_captures_a_cart(payment_id)
            else:
                self.events.append(("payment_intent.payment_failed", ("cart", payment_id)))

        def _cart_webhook(self, event_type, payment_id):
            payment = Payment.objects.get(pk=payment_id)
            if payment_id in self.stripe_captured_carts:
                cart_payments.mark_payment_paid(
                    payment_id=payment_id,
                    amount_cents=self.stripe_captured_carts[payment_id],
                    reference=payment.gateway_reference,
                )
                for order_id, amount in payment.orders.values_list("pk", "amount_cents"):
                    self.captured[order_id] = amount
            elif event_type == "payment_intent.payment_failed":
                cart_payments.mark_payment_failed(
                    payment_id=payment_id,
                    reason="Your card was declined.",
                    reference=payment.gateway_reference,
                )

        # --- bundles: one payment, an order per book not owned ---------------------------

        @rule(
            target=orders,
            reader=reader_ids,
            above_minimum=st.sampled_from([0, 1, 5_01]),
            via_cart=st.booleans(),
            double_click=st.booleans(),
        )
        def buy_the_bundle(self, reader, above_minimum, via_cart, double_click):
            """The reader buys the bundle (or the rest of it, owning a book) from its
            page with the demo card, or puts it in the cart and pays the cart."""
            page = clients[reader].get(bundle.get_absolute_url())
            if page.status_code != 200 or not page.context["offer"].books:
                return multiple()
            amount = f"{(page.context['offer'].bounds.minimum + above_minimum) / 100:.2f}"
            card = {"card_number": SUCCEEDING_CARD, "expiry": "12/34", "cvc": "123"}
            if via_cart:
                CartLine.objects.filter(owner=readers[reader]).delete()
                clients[reader].get(
                    reverse("payments:bundle_cart_add", args=[bundle.slug]), {"amount": amount}
                )
                cart = clients[reader].get(reverse("payments:cart"))
                token = str(cart.context["checkout_token"])
                url = reverse("payments:cart_checkout")
                form = {"checkout_token": token, "version": cart.context["contents"].version}
            else:
                url = reverse("payments:bundle_checkout", args=[bundle.slug])
                checkout = clients[reader].get(url, {"amount": amount})
                token = str(checkout.context["checkout_token"])
                form = {
                    "amount": amount,
                    "checkout_token": token,
                    "version": checkout.context["version"],
                }
            before = gateway.charges
            for _ in range(2 if double_click else 1):
                self.post(reader, url, {**form, **card})
            payment = Payment.objects.filter(buyer=readers[reader], checkout_token=token).first()
            if payment is None:
                return multiple()  # refused (a book paid for in a pending tab): nothing charged
            assert gateway.charges - before == 1, "a bundle charged more than once"
            self._cart_captured(payment)
            placed = [Placed(pk) for pk in payment.orders.values_list("pk", flat=True)]
            for order in placed:
                self.channel[order.order_id] = "cart"
            return multiple(*placed)

        # --- credits and memberships ------------------------------------------------------

        @rule(target=orders, reader=reader_ids, book=book_ids, double_click=st.booleans())
        def buy_with_a_credit(self, reader, book, double_click):
            token = uuid.uuid4()
            url = reverse("payments:buy_with_credit", args=[books[book].slug])
            for _ in range(2 if double_click else 1):
                self.post(reader, url, {"checkout_token": str(token)})
            order = self.order_by_token(reader, token)
            return Placed(order.pk) if order else multiple()

        @rule(target=orders, reader=reader_ids, size=st.sampled_from([1, 3, 4]), pay=PAY_NOW)
        def buy_a_credit_pack(self, reader, size, pay):
            token = uuid.uuid4()
            self.post(
                reader,
                reverse("payments:buy_pack"),
                {"credits": size, "checkout_token": str(token)},
            )
            order = self.order_by_token(reader, token)
            return self.pay_now(Placed(order.pk), pay) if order else multiple()

        @rule(target=orders, reader=reader_ids, pay=PAY_NOW)
        def join_the_membership(self, reader, pay):
            token = uuid.uuid4()
            self.post(
                reader,
                reverse("payments:join_membership"),
                {"plan": "monthly", "checkout_token": str(token)},
            )
            order = self.order_by_token(reader, token)
            return self.pay_now(Placed(order.pk), pay) if order else multiple()

        @rule()
        def memberships_renew(self):
            """The beat task, run late enough that every paid period has ended: the
            saved demo card is charged for the next period."""
            renewals = Order.objects.filter(product=Order.Product.MEMBERSHIP, status=PAID)
            before = set(renewals.values_list("pk", flat=True))
            membership_billing.renew_due(now=timezone.now() + timedelta(days=40))
            for order in renewals.exclude(pk__in=before):
                self.captured[order.pk] = order.amount_cents

        # --- gifts and team seats -----------------------------------------------------

        def _pay_for_others(self, reader, payment):
            """The gift or seat page's demo card: one charge for the whole payment."""
            before = gateway.charges
            session = cart_payments.start_payment(payment)
            cart_payments.pay_with_test_card(
                payment, card_number=SUCCEEDING_CARD, reference=session.reference
            )
            if gateway.charges > before:
                self._cart_captured(payment)
            placed = [Placed(pk) for pk in payment.orders.values_list("pk", flat=True)]
            for order in placed:
                self.channel[order.order_id] = "cart"
            return multiple(*placed)

        @rule(
            target=orders,
            reader=reader_ids,
            book=book_ids,
            later=st.booleans(),
            double_click=st.booleans(),
        )
        def give_a_book(self, reader, book, later, double_click):
            """A gift for a friend (one of the readers, or someone new), now or in a week;
            a book the giver owns may be given too."""
            token = uuid.uuid4()
            day = (timezone.now() + timedelta(days=7)).date() if later else None
            details = gifts.GiftDetails(
                recipient_email=f"friend{reader}@example.com", message="Enjoy", deliver_on=day
            )
            for _ in range(2 if double_click else 1):
                payment = gifts.place_book_gift(
                    buyer=readers[reader],
                    book=books[book],
                    amount_cents=books[book].suggested_price_cents,
                    details=details,
                    checkout_token=token,
                )
            return self._pay_for_others(reader, payment)

        @precondition(lambda self: Gift.objects.exists())
        @rule(which=st.integers(0, 20), by=reader_ids)
        def a_gift_is_delivered_and_claimed(self, which, by):
            """Its day comes (the sweep, twice: a retried task), then a reader claims
            it, or, owning the book, passes it on."""
            gift = list(Gift.objects.order_by("pk"))[which % Gift.objects.count()]
            for _ in range(2):
                gift_delivery.deliver(gift.pk, now=timezone.now() + timedelta(days=8))
            gift.refresh_from_db()
            try:
                gifts.claim(token=gift.claim_token, user=readers[by])
            except gifts.AlreadyOwnsGift:
                gifts.pass_on(
                    token=gift.claim_token, user=readers[by], recipient_email="next@example.com"
                )
            except gifts.GiftError:
                pass

        @precondition(lambda self: Gift.objects.exists())
        @rule(which=st.integers(0, 20))
        def a_gift_is_refunded(self, which):
            gift = list(Gift.objects.order_by("pk"))[which % Gift.objects.count()]
            claimed = gift.status == Gift.Status.CLAIMED
            try:
                gifts.refund(gift_id=gift.pk, buyer=gift.buyer)
            except refunds.RefundError:
                return
            assert not claimed, "a claimed gift was refunded"

        @rule(target=orders, reader=reader_ids, seats=st.sampled_from([2, 3]))
        def buy_team_seats(self, reader, seats):
            payment = team_licences.place_licence(
                manager=readers[reader], book=books[1], seats=seats, checkout_token=uuid.uuid4()
            )
            return self._pay_for_others(reader, payment)

        @precondition(lambda self: Seat.objects.exists())
        @rule(which=st.integers(0, 20), by=reader_ids, downloads=st.booleans())
        def a_seat_is_claimed(self, which, by, downloads):
            seat = list(Seat.objects.select_related("licence").order_by("pk"))[
                which % Seat.objects.count()
            ]
            manager = seat.licence.manager
            try:
                if not seat.email:
                    team_licences.invite(
                        licence_id=seat.licence_id,
                        manager=manager,
                        addresses=[f"seat{seat.pk}@example.com"],
                    )
                    seat.refresh_from_db()
                team_licences.claim_seat(token=seat.claim_token, user=readers[by])
            except team_licences.LicenceError:
                return
            if downloads:
                Entitlement.objects.filter(user=readers[by], book=books[1]).update(
                    last_downloaded_at=timezone.now()
                )

        @precondition(lambda self: Seat.objects.exists())
        @rule(which=st.integers(0, 20))
        def unused_seats_are_refunded(self, which):
            licences = list(Seat.objects.values_list("licence_id", flat=True).distinct())
            licence_id = sorted(licences)[which % len(licences)]
            manager = Seat.objects.filter(licence_id=licence_id).first().licence.manager
            with contextlib.suppress(refunds.RefundError):  # every seat used, or late
                team_licences.refund_unused(licence_id=licence_id, manager=manager)

        # --- refunds -------------------------------------------------------------------

        @rule(order=orders, double_click=st.booleans())
        def ask_for_a_refund(self, order, double_click):
            placed = Order.objects.get(pk=order.order_id)
            late = placed.paid_at is not None and not refunds.within_window(placed)
            had_refund = Refund.objects.filter(order=placed).exists()
            url = reverse("payments:refund", args=[placed.public_id])
            if placed.bundle_sale:  # a bundle is refunded whole, from its own page
                url = reverse("payments:bundle_refund", args=[placed.bundle_sale])
            for _ in range(2 if double_click else 1):
                self.post(readers.index(placed.buyer), url, {"reason": "changed my mind"})
            if late and not had_refund:
                assert not Refund.objects.filter(order=placed).exists(), "a late refund was made"

        @precondition(lambda self: Refund.objects.filter(status=Refund.Status.REQUESTED).exists())
        @rule(approve=st.booleans())
        def an_admin_decides_a_refund(self, approve):
            refund = Refund.objects.filter(status=Refund.Status.REQUESTED).order_by("pk").first()
            if approve:
                refunds.approve_refund(refund_id=refund.pk, admin=admin)
                refunds.execute_refund(refund_id=refund.pk, actor=admin)
            else:
                refunds.deny_refund(refund_id=refund.pk, admin=admin, note="Read it all.")

        @rule()
        def failed_refunds_are_retried(self):
            refunds.retry_failed_refunds()

        # --- time and payouts ------------------------------------------------------------

        @rule()
        def two_months_pass(self):
            shift_back(LATER.days)

        @rule()
        def the_monthly_payouts_run(self):
            self.batches += 1
            payouts.create_payout_batch(period=f"{2000 + self.batches}-01", threshold_cents=1)

        @precondition(lambda self: Payout.objects.filter(status=Payout.Status.PENDING).exists())
        @rule(sent=st.booleans())
        def an_admin_settles_a_payout(self, sent):
            payout = Payout.objects.filter(status=Payout.Status.PENDING).order_by("pk").first()
            if sent:
                payouts.mark_sent(payout_id=payout.pk, reference="PAYPAL-1", admin=admin)
            else:
                payouts.mark_failed(payout_id=payout.pk, reason="Account closed.", admin=admin)

        # --- invariants ------------------------------------------------------------------
        # Each reads the whole (small) state in a query or two: they run after every step.

        @invariant()
        def one_paid_order_and_one_live_entitlement_per_reader_and_book(self):
            paid = {}
            for buyer, book, public_id in Order.objects.filter(
                product=Order.Product.BOOK, status=PAID, gift=None, team_licence=None
            ).values_list("buyer_id", "book_id", "public_id"):
                paid.setdefault((buyer, book), []).append(public_id)
            given = self._given_copies()
            live = {
                (user, book): order_ref
                for user, book, order_ref in Entitlement.objects.active().values_list(
                    "user_id", "book_id", "order_ref"
                )
                if order_ref not in given
            }
            for pair, granting in paid.items():
                assert len(granting) == 1, f"reader and book {pair}: paid orders {granting}"
            assert set(live) == set(paid), f"owned {sorted(live)} but paid for {sorted(paid)}"
            for pair, order_ref in live.items():
                assert [order_ref] == paid[pair], f"{pair} owned through another order"

        def _given_copies(self):
            """Public ids of the paid gift and seat orders whose claimers hold the book."""
            return set(
                Order.objects.filter(status=PAID)
                .exclude(gift=None, team_licence=None)
                .values_list("public_id", flat=True)
            )

        @invariant()
        def a_given_copy_is_held_only_by_its_claimer_while_its_order_is_paid(self):
            holders = {}
            for gift in Gift.objects.filter(status=Gift.Status.CLAIMED):
                for public_id in gift.orders.values_list("public_id", flat=True):
                    holders[public_id] = gift.claimed_by_id
            for seat in Seat.objects.filter(holder__isnull=False).select_related("order"):
                holders[seat.order.public_id] = seat.holder_id
            given = self._given_copies()
            refunded_gifts = Gift.objects.filter(status=Gift.Status.REFUNDED)
            assert not refunded_gifts.filter(claimed_at__isnull=False).exists()
            for user, order_ref in Entitlement.objects.active().values_list("user_id", "order_ref"):
                if order_ref in holders:
                    assert order_ref in given, f"{order_ref}: held after its order was refunded"
                    assert holders[order_ref] == user, f"{order_ref}: held by someone else"

        @invariant()
        def the_ledger_audit_is_clean(self):
            report = audit()
            assert report.ok, report.problems

        @invariant()
        def every_captured_cent_is_in_the_ledger(self):
            booked = dict(
                LedgerEntry.objects.filter(
                    transaction__order_id__in=list(self.captured),
                    account="processor",
                    amount_cents__lt=0,
                )
                .values_list("transaction__order_id")
                .annotate(s=Sum("amount_cents"))
            )
            for order_id, amount in self.captured.items():
                assert -booked.get(order_id, 0) == amount, (
                    f"order {order_id}: captured {amount}, booked {booked.get(order_id)}"
                )

        def _orders(self):
            """(order id, buyer, book, public id, status, gateway, amount, refund in flight)."""
            return list(
                Order.objects.annotate(
                    in_flight=Exists(
                        Refund.objects.filter(order=OuterRef("pk"), status__in=REFUND_IN_FLIGHT)
                    )
                ).values_list(
                    "pk",
                    "buyer_id",
                    "book_id",
                    "public_id",
                    "status",
                    "gateway",
                    "amount_cents",
                    "in_flight",
                )
            )

        @invariant()
        def what_each_reader_paid_net_of_refunds_is_what_the_ledger_says(self):
            refunded = gateway.refunded_by_order()
            net = {reader.pk: 0 for reader in readers}
            for pk, buyer, _, public_id, *_ in self._orders():
                back = refunded.get(str(public_id), 0)
                assert back <= self.captured.get(pk, 0), f"order {pk} refunded {back}: too much"
                net[buyer] += self.captured.get(pk, 0) - back
            ledger = dict(
                LedgerEntry.objects.filter(account="processor", transaction__order__isnull=False)
                .values_list("transaction__order__buyer_id")
                .annotate(s=Sum("amount_cents"))
            )
            for buyer, cents in net.items():
                assert cents == -ledger.get(buyer, 0), (
                    f"reader {buyer} was charged {cents} net, the ledger says {-ledger.get(buyer, 0)}"
                )

        @invariant()
        def a_reader_keeps_paying_only_for_the_copy_they_own(self):
            """One book, one charge: per reader and book, the money kept after every
            completed refund is the granting order's (nothing if a credit paid)."""
            refunded = gateway.refunded_by_order()
            kept, granting = {}, {}
            for_others = set(
                Order.objects.exclude(gift=None, team_licence=None).values_list("pk", flat=True)
            )
            for pk, buyer, book, public_id, status, via, amount, in_flight in self._orders():
                if book is None or pk in for_others:
                    continue
                if pk in self.captured and not in_flight:
                    kept[buyer, book] = (
                        kept.get((buyer, book), 0)
                        + self.captured[pk]
                        - refunded.get(str(public_id), 0)
                    )
                # A refund in flight (held for review by the abuse rule, say) is not
                # settled either way yet: that order counts on neither side.
                if status == PAID and via != "credit" and not in_flight:
                    granting[buyer, book] = granting.get((buyer, book), 0) + amount
            for pair in set(kept) | set(granting):
                assert kept.get(pair, 0) == granting.get(pair, 0), (
                    f"reader and book {pair}: keeps paying {kept.get(pair, 0)}, "
                    f"owns a copy bought for {granting.get(pair, 0)}"
                )

        @invariant()
        def credit_balances_never_go_negative(self):
            negative = (
                CreditEntry.objects.values("owner_id").annotate(n=Sum("credits")).filter(n__lt=0)
            )
            assert not negative.exists(), list(negative)

        @invariant()
        def coupons_count_each_sale_once_within_their_limits(self):
            """A use per coupon sale, counted once; the card page never lets a coupon
            past its limit or a reader use it twice (a Stripe capture is honoured,
            marked over the limit)."""
            sold = Order.objects.sold().filter(coupon__isnull=False)
            assert CouponRedemption.objects.count() == sold.count()
            for coupon in Coupon.objects.all():
                redemptions = CouponRedemption.objects.filter(coupon=coupon)
                assert coupon.uses == redemptions.count()
                within = list(redemptions.filter(over_limit=False).values_list("reader", flat=True))
                assert len(within) <= coupon.max_uses
                assert len(set(within)) == len(within), "a reader used a coupon twice"
                card_only = redemptions.exclude(order__pk__in=list(self.stripe_captured))
                assert not card_only.filter(over_limit=True).exists(), "card page overran"

        @invariant()
        def each_author_is_owed_royalties_minus_payouts(self):
            """Computed from the orders and the payouts, then compared with the ledger."""
            owed = {author.pk: 0 for author in authors}
            for book_id, royalty in Order.objects.filter(
                product=Order.Product.BOOK, status=PAID
            ).values_list("book_id", "royalty_cents"):
                shares = shares_of[book_id]
                parts = split_royalty(royalty, [share for _, share in shares])
                for (author_id, _), part in zip(shares, parts, strict=True):
                    owed[author_id] += part
            for author_id, out in (
                Payout.objects.filter(status__in=[Payout.Status.PENDING, Payout.Status.SENT])
                .values_list("author_id")
                .annotate(s=Sum("amount_cents"))
            ):
                owed[author_id] -= out
            ledger = dict(
                LedgerEntry.objects.filter(account="author")
                .values_list("author_id")
                .annotate(s=Sum("amount_cents"))
            )
            for author_id, cents in owed.items():
                assert ledger.get(author_id, 0) == cents, (
                    f"author {author_id}: ledger balance {ledger.get(author_id, 0)}, "
                    f"royalties minus payouts {cents}"
                )

    return MoneyStateMachine


def test_no_sequence_of_customer_actions_breaks_the_money_state(world):
    run_state_machine_as_test(machine_for(world), settings=MACHINE)


# --- The same two tabs through real signed webhooks ---------------------------------


def test_a_stripe_tab_paid_after_the_book_was_bought_with_a_credit_charges_the_reader_once(
    world, stripe_settings, localstripe, client
):
    """Tab 1 opened Stripe's payment form; tab 2 bought the book with a credit; then
    the reader pays in tab 1. Stripe captured the money: the signed webhook (sent
    twice) must not book a second sale, and the payment goes back once."""
    reader, book = world["readers"][0], world["books"][1]
    stripe_tab = stripe_order(reader, book, amount_cents=book.minimum_price_cents)
    pack = services.place_credits_order(
        buyer=reader,
        product=Order.Product.CREDITS,
        credits=1,
        amount_cents=15_00,
        checkout_token=uuid.uuid4(),
        gateway="demo",
    )
    services.mark_paid(order_id=pack.pk, amount_cents=15_00)
    credit_order = credit_purchases.buy_with_credit(
        buyer=reader, book=book, checkout_token=uuid.uuid4()
    )

    intent = localstripe.confirm(stripe_tab.gateway_reference, "pm_card_visa")
    first = post_event(client, event_payload(intent))
    again = post_event(client, event_payload(intent))  # the same payment, another event

    assert (first.status_code, again.status_code) == (200, 200)
    assert [o.pk for o in Order.objects.filter(buyer=reader, book=book, status=PAID)] == [
        credit_order.pk
    ]
    owned = Entitlement.objects.active().get(user=reader, book=book)
    assert owned.order_ref == credit_order.public_id
    refunded = localstripe.api.v1.refunds.list(
        params={"payment_intent": stripe_tab.gateway_reference, "limit": 100}
    ).data
    assert [r.amount for r in refunded] == [stripe_tab.amount_cents]
    processor = LedgerEntry.objects.filter(
        transaction__order=stripe_tab, account="processor"
    ).aggregate(s=Sum("amount_cents"))["s"]
    assert (processor or 0) == 0  # captured, then given back: nothing kept
    report = audit()
    assert report.ok, report.problems
