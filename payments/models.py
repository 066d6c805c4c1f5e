import uuid
from functools import cache

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import get_script_prefix, reverse
from django.utils import timezone

from core.money import MIN_PAID_PRICE_CENTS, format_cents


class OrderQuerySet(models.QuerySet):
    def charged_for(self, buyer, book):
        """Paid orders with money for this reader and book: at most one (the
        order_one_paid_book_per_reader index), whatever the tabs and webhooks."""
        return self.filter(
            buyer=buyer,
            book=book,
            product="book",
            status="paid",
            amount_cents__gt=0,
            gift__isnull=True,
            team_licence__isnull=True,
        )

    def paid_alone_by(self, gateway: str, reference: str):
        """The order a gateway payment pays on its own. A cart's lines share their
        ``Payment``'s reference and are found through it; asking for ``payment IS NULL``
        too is the order_gateway_reference_unique index's own condition, so this is an
        index scan, not a scan of every order (126 ms per webhook on a million orders)."""
        return self.filter(gateway=gateway, gateway_reference=reference, payment__isnull=True)

    def sold(self):
        """Book orders that became sales: a ``sale`` transaction in the ledger (free
        copies included; a second payment for a book the reader owned, refunded
        automatically, is not one, nor is anything unpaid), refunded since or not."""
        sale = LedgerTransaction.objects.filter(order=models.OuterRef("pk"), kind="sale")
        return self.filter(product="book").filter(models.Exists(sale))


_SAMPLE_ID = uuid.UUID(int=0)


@cache
def _order_url_parts(script_prefix: str) -> tuple[str, str]:
    """The order page's URL around its public id, as ``reverse`` builds it."""
    head, _, tail = reverse("payments:order", kwargs={"public_id": _SAMPLE_ID}).partition(
        str(_SAMPLE_ID)
    )
    return head, tail


# What an unpaid order's status means to the reader; the others read as their label.
READER_STATUS = {
    "failed": "Declined — nothing charged",
    "expired": "Not completed — nothing charged",
    "pending": "Waiting for payment",
}


class Payment(models.Model):
    """One gateway payment (one Stripe PaymentIntent, one demo card page) that pays
    one or more book orders at once: a cart. Each order stays one book at its own
    price, with its own royalty, ledger sale, receipt line and 60-day refund (a
    partial refund of this payment).

    pending -> paid, or pending -> failed / expired. Its orders move with it, each
    through the same locked order transitions a one-book payment uses
    (services.mark_paid / mark_failed), so a replayed or reordered event is a no-op.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments"
    )
    currency = models.CharField(max_length=3, default="USD")
    # The sum of its orders' amounts: what the gateway must capture, to the cent.
    amount_cents = models.PositiveIntegerField()
    gateway = models.CharField(max_length=16)
    gateway_reference = models.CharField(max_length=255, blank=True)
    # The cart checkout page it came from: a double click finds this payment.
    checkout_token = models.UUIDField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField(max_length=300, blank=True)
    # Paid by a visitor who was not signed in, with only an e-mail address: the
    # receipt carries a one-time sign-in link. ``account_created`` words that
    # e-mail only ("your new account" / "your account"); no page ever shows it.
    guest_checkout = models.BooleanField(default=False)
    account_created = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["buyer", "checkout_token"], name="payment_checkout_token_unique"
            ),
            models.UniqueConstraint(
                fields=["gateway", "gateway_reference"],
                condition=~Q(gateway_reference=""),
                name="payment_gateway_reference_unique",
            ),
            models.CheckConstraint(
                condition=Q(amount_cents__gte=MIN_PAID_PRICE_CENTS), name="payment_amount_valid"
            ),
        ]

    def __str__(self):
        return f"Payment #{self.pk} · {self.buyer.email} · {format_cents(self.amount_cents, self.currency)} · {self.status}"

    def get_absolute_url(self):
        return reverse("payments:cart_payment", kwargs={"public_id": self.public_id})


class CartLine(models.Model):
    """A book a signed-in reader means to buy, at the amount they chose on its
    slider. (Anonymous visitors keep the same lines in their session; they are
    merged into these at login.)"""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cart_lines"
    )
    book = models.ForeignKey("catalog.Book", on_delete=models.CASCADE, related_name="+")
    amount_cents = models.PositiveIntegerField()
    # The coupon of the coupon link it was added from (payments.coupons): its range.
    coupon = models.ForeignKey(
        "Coupon", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "book"], name="cartline_one_per_book")
        ]

    def __str__(self):
        return f"{self.book_id} at {format_cents(self.amount_cents)} for {self.owner_id}"


class Coupon(models.Model):
    """An author's promotion for one book or one bundle: a lower price range while
    it runs (payments/coupons.py holds the rules). The code is stored upper-cased
    and is unique per book and per bundle: two authors may both run "LAUNCH"."""

    class Kind(models.TextChoices):
        PERCENT = "percent", "Percentage off"
        AMOUNT = "amount", "Amount off"
        FIXED = "fixed", "Fixed price"

    book = models.ForeignKey(
        "catalog.Book", null=True, blank=True, on_delete=models.CASCADE, related_name="coupons"
    )
    bundle = models.ForeignKey(
        "catalog.Bundle", null=True, blank=True, on_delete=models.CASCADE, related_name="coupons"
    )
    code = models.CharField(max_length=32)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # Percent (1-100) for PERCENT; cents for AMOUNT and FIXED.
    value = models.PositiveIntegerField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True)  # None: unlimited
    one_per_reader = models.BooleanField(default=True)
    # Redemptions so far: counted under the coupon's row lock when an order is paid.
    uses = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(book__isnull=False) & Q(bundle__isnull=True))
                | (Q(book__isnull=True) & Q(bundle__isnull=False)),
                name="coupon_book_xor_bundle",
            ),
            models.UniqueConstraint(
                fields=["book", "code"],
                condition=Q(book__isnull=False),
                name="coupon_code_per_book",
            ),
            models.UniqueConstraint(
                fields=["bundle", "code"],
                condition=Q(bundle__isnull=False),
                name="coupon_code_per_bundle",
            ),
            models.CheckConstraint(
                condition=~Q(kind="percent") | Q(value__gte=1, value__lte=100),
                name="coupon_percent_range",
            ),
        ]

    def __str__(self):
        return f"{self.code} ({self.get_kind_display().lower()})"


class Order(models.Model):
    """One attempt to buy one thing at one price: a book (paid in money or with a
    credit), a credit pack, or one period of the Reader Membership.

    pending -> paid -> refunded, or pending -> failed / expired. A payment captured
    for a book the reader already owned (a second tab, a webhook after a credit
    purchase) is never a second sale: pending -> duplicate -> refunded, refunded
    in full automatically. Every move is a locked service function in
    payments/services.py that refuses illegal moves.
    """

    class Product(models.TextChoices):
        BOOK = "book", "Book"
        CREDITS = "credits", "Credit pack"
        MEMBERSHIP = "membership", "Reader Membership"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"
        REFUNDED = "refunded", "Refunded"
        # Captured for a book the reader owned already: refunded automatically.
        DUPLICATE = "duplicate", "Paid twice: being refunded"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    product = models.CharField(max_length=10, choices=Product.choices, default=Product.BOOK)
    book = models.ForeignKey(
        "catalog.Book", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    # Credits the order grants (a pack, a membership period) or spends (a book
    # bought with a credit: gateway "credit", amount = the credit's cash value).
    credits = models.PositiveIntegerField(default=0)
    membership = models.ForeignKey(
        "Membership", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    # The cart payment it is a line of (None: the order is paid on its own). Its
    # gateway reference is then the payment's, shared with the other lines.
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    # A bundle's book: the bundle it was sold in, and the sale it is part of (the
    # orders of one bundle purchase share it: one receipt line, refunded together).
    bundle = models.ForeignKey(
        "catalog.Bundle", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    bundle_sale = models.UUIDField(null=True, blank=True, db_index=True)
    # The coupon the reader applied: its price range let this amount through.
    coupon = models.ForeignKey(
        Coupon, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    # Bought for someone else (payments/gifts.py, payments/team_licences.py): a sale
    # for the buyer, a book for whoever claims it. Not the buyer's copy, so outside
    # "one book, one charge" (a reader may give a book they own, or buy seats of it).
    gift = models.ForeignKey(
        "Gift", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    team_licence = models.ForeignKey(
        "TeamLicence", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    currency = models.CharField(max_length=3, default="USD")
    amount_cents = models.PositiveIntegerField()
    # Snapshots at the time of sale: later changes to the rule or shares never rewrite history.
    royalty_cents = models.PositiveIntegerField()
    gateway = models.CharField(max_length=16)
    gateway_reference = models.CharField(max_length=255, blank=True)
    # The token of the checkout page the order came from: a double-click or a
    # reload of the same page finds this order instead of creating another.
    checkout_token = models.UUIDField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["buyer", "checkout_token"], name="order_checkout_token_unique"
            ),
            # The lines of one cart payment share its reference; any other order has its own.
            models.UniqueConstraint(
                fields=["gateway", "gateway_reference"],
                condition=~Q(gateway_reference="") & Q(payment__isnull=True),
                name="order_gateway_reference_unique",
            ),
            # One book, one charge: whatever the tabs, clicks and webhooks, a reader
            # holds at most one paid, unrefunded order with money for a book. ($0
            # copies are not charges: a free book removed and taken again is a new one.)
            models.UniqueConstraint(
                fields=["buyer", "book"],
                condition=Q(
                    status="paid",
                    product="book",
                    amount_cents__gt=0,
                    gift__isnull=True,
                    team_licence__isnull=True,
                ),
                name="order_one_paid_book_per_reader",
            ),
            models.CheckConstraint(
                # A credit's cash value may be below the card minimum (a share of a pack).
                condition=Q(amount_cents=0)
                | Q(amount_cents__gte=MIN_PAID_PRICE_CENTS)
                | Q(gateway="credit"),
                name="order_amount_valid",
            ),
            models.CheckConstraint(
                condition=(Q(product="book") & Q(book__isnull=False))
                | (~Q(product="book") & Q(book__isnull=True) & Q(credits__gt=0)),
                name="order_book_iff_book_product",
            ),
            models.CheckConstraint(
                condition=Q(royalty_cents__lte=models.F("amount_cents")),
                name="order_royalty_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["buyer", "-created_at"]),
            models.Index(fields=["status", "-created_at"]),
            # Free copies on the earnings dashboard: the few $0 orders among many.
            models.Index(
                fields=["book", "paid_at"], condition=Q(amount_cents=0), name="order_free_copies"
            ),
            # An author's insights (payments/insights.py): a book's checkouts and
            # purchases in a period.
            models.Index(fields=["book", "created_at"], name="order_book_created"),
            models.Index(fields=["book", "paid_at"], name="order_book_paid"),
        ]

    def __str__(self):
        """ "Order #2 · The Book · reader@example.com · $4.99 · paid": what admin rows
        and pickers show (list pages select the buyer and book with it)."""
        return " · ".join(
            [
                f"Order #{self.pk}",
                self.title,
                self.buyer.email,
                format_cents(self.amount_cents, self.currency),
                self.get_status_display().lower(),
            ]
        )

    def get_absolute_url(self):
        # An order list shows 25 of these: the URL is reversed once per script prefix.
        head, tail = _order_url_parts(get_script_prefix())
        return f"{head}{self.public_id}{tail}"

    @property
    def is_paid(self) -> bool:
        return self.status == self.Status.PAID

    @property
    def status_for_reader(self) -> str:
        """What the order's status means to the reader (order pages and the orders
        list); unpaid ones say nothing was charged."""
        return READER_STATUS.get(self.status) or self.get_status_display()

    @property
    def sold_as(self) -> str:
        """How a book sale was sold, for the earnings table and CSV: "gift", "team seat" or ""."""
        if self.gift_id:
            return "gift"
        if self.team_licence_id:
            return "team seat"
        return ""

    @property
    def for_someone_else(self) -> bool:
        """A gift or a team seat: its book goes to whoever claims it, not the buyer."""
        return self.gift_id is not None or self.team_licence_id is not None

    @property
    def paid_with_credit(self) -> bool:
        return self.gateway == "credit"

    @property
    def title(self) -> str:
        """What was bought, for receipts and order lists."""
        if self.book_id:
            if self.gift_id:
                return f"{self.book.title} (gift)"
            if self.team_licence_id:
                return f"{self.book.title} (team seat)"
            return self.book.title
        if self.product == self.Product.MEMBERSHIP:
            return f"Reader Membership ({self.credits} credit{'s' if self.credits != 1 else ''})"
        return f"{self.credits}-credit pack"


class CouponRedemption(models.Model):
    """One use of a coupon: a paid sale (one book order, or the orders of one
    bundle sale), recorded once, under the coupon's lock, when the money came in."""

    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The order's public id, or "bundle:<sale>": a replayed payment finds its row.
    sale_key = models.CharField(max_length=64, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="+")
    amount_cents = models.PositiveIntegerField()  # the whole sale's price
    # Paid after the coupon ran out (a Stripe payment captured meanwhile): honoured.
    over_limit = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["coupon", "reader"])]

    def __str__(self):
        return f"{self.coupon.code} by {self.reader_id} · {format_cents(self.amount_cents)}"


class LedgerTransaction(models.Model):
    """A money event: its entries sum to zero. Never updated or deleted."""

    class Kind(models.TextChoices):
        SALE = "sale", "Sale"
        REFUND = "refund", "Refund"
        PAYOUT = "payout", "Payout"
        REVERSAL = "reversal", "Payout reversal"
        EXPIRY = "expiry", "Credits expired"
        # Cash captured for a book the reader owned already, held until it is refunded.
        DOUBLE = "double", "Double payment (to refund)"
        # The gateway reported a booked refund failed: the refund's exact reversal.
        UNREFUND = "unrefund", "Refund failed at the gateway"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_transactions"
    )
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One sale per order: a replayed payment event can never book it twice.
            models.UniqueConstraint(
                fields=["order"], condition=Q(kind="sale"), name="ledger_one_sale_per_order"
            ),
            models.UniqueConstraint(
                fields=["order"], condition=Q(kind="refund"), name="ledger_one_refund_per_order"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"


class LedgerEntry(models.Model):
    """One signed amount on one account. Positive on an author or the platform
    means owed to them; the processor account holds the cash side (negative)."""

    class Account(models.TextChoices):
        PROCESSOR = "processor", "Payment processor"
        PLATFORM = "platform", "Platform"
        AUTHOR = "author", "Author"
        # Money readers paid for credits they have not spent yet (owed to them
        # as books or refunds): up when credits are bought, down when spent.
        CREDITS = "credits", "Reader credits"

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    account = models.CharField(max_length=10, choices=Account.choices)
    author = models.ForeignKey(
        "catalog.Author",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField(auto_now_add=True)
    # Copied from the transaction and its order, so the earnings dashboard sums
    # one indexed table instead of joining three (it must stay fast at 1M rows).
    kind = models.CharField(max_length=8, choices=LedgerTransaction.Kind.choices)
    book = models.ForeignKey(
        "catalog.Book", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # When the money may be paid out: the end of the sale's refund window (a
    # refund's entries keep its sale's date; a payout's is its own).
    available_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(account="author") & Q(author__isnull=False))
                | (~Q(account="author") & Q(author__isnull=True)),
                name="ledgerentry_author_iff_author_account",
            )
        ]
        indexes = [
            models.Index(fields=["author", "created_at"]),
            models.Index(fields=["author", "available_at"]),
            models.Index(fields=["account"]),
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self):
        who = f"author {self.author_id}" if self.author_id else self.account
        sign = "+" if self.amount_cents > 0 else ""
        return f"{who}: {sign}{format_cents(self.amount_cents, self.currency)}"


class WebhookEvent(models.Model):
    """Every gateway event we accepted, once: the unique id makes replays no-ops."""

    gateway = models.CharField(max_length=16)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_events"
    )
    received_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["gateway", "event_id"], name="webhookevent_unique")
        ]

    def __str__(self):
        return f"{self.gateway} {self.type} {self.event_id}"


class Refund(models.Model):
    """A reader's (or an admin's) refund of one order, and where it stands.

    requested (waiting for review) -> approved -> processing -> refunded;
    requested -> denied; processing -> failed -> (retry) processing;
    refunded -> reversed when the gateway reports the refund failed after all.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested (manual review)"
        APPROVED = "approved", "Approved"
        PROCESSING = "processing", "Processing"
        REFUNDED = "refunded", "Refunded"
        DENIED = "denied", "Denied"
        FAILED = "failed", "Failed (retryable)"
        # Booked as refunded, then the gateway reported the refund failed: the
        # booking was reversed, the order is paid again and the reader keeps the book.
        REVERSED = "reversed", "Failed at the gateway (reversed)"

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="refund")
    amount_cents = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.TextField(blank=True, help_text="The reader's words, optional.")
    auto_approved = models.BooleanField(default=False)
    decision_note = models.TextField(
        blank=True, help_text="Why it was denied (e-mailed to the reader)."
    )
    gateway_refund_id = models.CharField(max_length=255, blank=True)
    # What the gateway last said of its refund object (Stripe: pending, succeeded,
    # failed, canceled); "pending" is booked as refunded and watched for failure.
    gateway_status = models.CharField(max_length=16, blank=True)
    last_error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processing_since = models.DateTimeField(
        null=True, blank=True, help_text="When the latest gateway call started."
    )
    # The abuse rule that held it for review instead of approving it at once, in
    # words, as it read when the reader asked (refunds.abuse_hold); blank if none did.
    held_by = models.CharField(max_length=200, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # The admin who approved or denied it (None: approved automatically).
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["status", "-requested_at"])]

    def __str__(self):
        return f"Refund of order #{self.order_id} · {format_cents(self.amount_cents)} · {self.get_status_display()}"


class RefundAction(models.Model):
    """Who did what to a refund, and when: the audit trail admins see."""

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="actions")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=80)
    note = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.action} by {self.actor or 'the system'}"


class PayoutAccount(models.Model):
    """Where an author wants their royalties sent."""

    class Method(models.TextChoices):
        PAYPAL = "paypal", "PayPal"
        REFERENCE = "reference", "Bank transfer / other (reference)"

    author = models.OneToOneField(
        "catalog.Author", on_delete=models.CASCADE, related_name="payout_account"
    )
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.PAYPAL)
    paypal_email = models.EmailField(blank=True)
    reference = models.CharField(
        max_length=200, blank=True, help_text="IBAN or other payout reference."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Payout account of {self.author}"

    @property
    def destination(self) -> str:
        return self.paypal_email if self.method == self.Method.PAYPAL else self.reference

    @property
    def masked(self) -> str:
        """Enough to recognise, not enough to steal: "ra•••@example.com", "•••• 1234"."""
        value = self.destination
        if not value:
            return ""
        if "@" in value:
            name, _, domain = value.partition("@")
            return f"{name[:2]}•••@{domain}"
        return f"•••• {value[-4:]}"


class PayoutBatch(models.Model):
    """The payouts created together, once per calendar month (``period``, unique):
    with ``payout_once_per_batch`` an author is paid at most once a month."""

    period = models.CharField(max_length=7, unique=True, help_text="YYYY-MM")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period"]
        verbose_name_plural = "payout batches"
        # "2026-3" next to "2026-03" would be a second batch for the same month.
        constraints = [
            models.CheckConstraint(
                condition=Q(period__regex=r"^[0-9]{4}-(0[1-9]|1[0-2])$"),
                name="payoutbatch_period_is_a_month",
            )
        ]

    def __str__(self):
        return f"Payouts {self.period}"


class Payout(models.Model):
    """Royalties owed to one author, reserved in the ledger when created.

    pending (money reserved) -> sent (an admin paid it: external reference) or
    failed (the reservation is reversed and the money is available again).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, related_name="payouts")
    author = models.ForeignKey("catalog.Author", on_delete=models.PROTECT, related_name="payouts")
    amount_cents = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3, default="USD")
    method = models.CharField(max_length=10, choices=PayoutAccount.Method.choices)
    destination = models.CharField(max_length=254)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    external_reference = models.CharField(max_length=200, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    ledger_transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, related_name="payout"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "author"], name="payout_once_per_batch")
        ]

    def __str__(self):
        return f"Payout of {format_cents(self.amount_cents)} to {self.author} ({self.get_status_display().lower()})"


class LedgerDaily(models.Model):
    """Ledger entries summed per account, author, book, kind and day.

    Kept in the same transaction as the entries it sums (ledger._write), so the
    earnings dashboard reads a few thousand rows instead of a million entries;
    ``audit_ledger`` checks it against the entries, and
    ``manage.py rebuild_ledger_daily`` recomputes it. ``author_key`` and
    ``book_key`` are 0 when the entry has none (a unique key cannot hold NULLs).

    Each sum is split over ``DAILY_SHARDS`` rows (``shard``, from the transaction's
    id): one row per author and day would make every sale of an author wait for
    the one before it to commit. Readers only ever SUM over the rows, so the split
    changes no figure.
    """

    account = models.CharField(max_length=10)
    author_key = models.BigIntegerField(default=0)
    book_key = models.BigIntegerField(default=0)
    kind = models.CharField(max_length=8)
    day = models.DateField()
    available_day = models.DateField()
    shard = models.PositiveSmallIntegerField(default=0)
    amount_cents = models.BigIntegerField(default=0)
    entries = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "account",
                    "author_key",
                    "book_key",
                    "kind",
                    "day",
                    "available_day",
                    "shard",
                ],
                name="ledgerdaily_key",
            )
        ]
        indexes = [
            # Index-only scans for the dashboard's author-side and cash-side sums.
            models.Index(
                fields=["author_key", "day"],
                include=["kind", "book_key", "available_day", "entries", "amount_cents"],
                condition=Q(account="author"),
                name="ledgerdaily_author_days",
            ),
            models.Index(
                fields=["book_key", "day"],
                include=["kind", "entries", "amount_cents"],
                condition=Q(account__in=["processor", "credits"]),
                name="ledgerdaily_buyer_days",
            ),
            models.Index(fields=["author_key", "available_day"]),
        ]

    def __str__(self):
        who = f" {self.author_key}" if self.author_key else ""
        return f"{self.day} {self.account}{who} {self.kind}: {format_cents(self.amount_cents)}"


class Membership(models.Model):
    """A reader's Reader Membership: a plan that grants credits every period.

    With Stripe it mirrors a Stripe Subscription (renewed by ``invoice.paid``);
    with the demo gateway, ``renew_memberships`` renews it locally.
    """

    class Plan(models.TextChoices):
        MONTHLY = "monthly", "Monthly"
        ANNUAL = "annual", "Annual"

    class Status(models.TextChoices):
        INCOMPLETE = "incomplete", "Waiting for the first payment"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Payment failed"
        CANCELED = "canceled", "Ended"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="membership"
    )
    plan = models.CharField(max_length=8, choices=Plan.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.INCOMPLETE)
    gateway = models.CharField(max_length=16)
    customer_reference = models.CharField(max_length=255, blank=True)
    subscription_reference = models.CharField(max_length=255, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "subscription_reference"],
                condition=~Q(subscription_reference=""),
                name="membership_subscription_unique",
            )
        ]
        indexes = [models.Index(fields=["status", "current_period_end"])]

    def __str__(self):
        return f"{self.user} · {self.get_plan_display()} · {self.get_status_display()}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.ACTIVE, self.Status.PAST_DUE)


class CreditLot(models.Model):
    """Credits a reader got at once (a pack, a membership period, a grant) and
    what they paid for them: the cash value each credit carries to a book."""

    class Source(models.TextChoices):
        PACK = "pack", "Credit pack"
        MEMBERSHIP = "membership", "Membership"
        GRANT = "grant", "Granted"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_lots"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    order = models.OneToOneField(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_lot"
    )
    credits = models.PositiveIntegerField()
    cash_cents = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["owner", "created_at"])]

    def __str__(self):
        return f"{self.credits} credits for {format_cents(self.cash_cents)} ({self.get_source_display()})"


class CreditEntry(models.Model):
    """The credit ledger: every credit that comes or goes, with its cash value.
    A reader's balance is the sum of their entries; never updated or deleted."""

    class Kind(models.TextChoices):
        BOUGHT = "bought", "Bought"
        GRANTED = "granted", "Granted"
        SPENT = "spent", "Spent on a book"
        RETURNED = "returned", "Returned (book refunded)"
        REFUNDED = "refunded", "Refunded as money"
        RESTORED = "restored", "Restored (refund not made)"
        EXPIRED = "expired", "Expired (over the rollover cap)"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_entries"
    )
    lot = models.ForeignKey(CreditLot, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    credits = models.IntegerField()
    value_cents = models.BigIntegerField()
    # The order it moved for: the book bought or refunded, the pack refunded.
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_entries"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "credit entries"
        constraints = [
            # A book order spends one credit once and gets it back once.
            models.UniqueConstraint(
                fields=["order", "kind"],
                condition=Q(kind__in=["spent", "returned", "refunded", "restored"]),
                name="creditentry_once_per_order",
            ),
            models.CheckConstraint(
                condition=Q(credits__gt=0, kind__in=["bought", "granted", "returned", "restored"])
                | Q(credits__lt=0, kind__in=["spent", "refunded", "expired"]),
                name="creditentry_sign_by_kind",
            ),
        ]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return f"{self.owner} {self.credits:+d} credits ({self.kind})"


class Gift(models.Model):
    """A book (or a bundle's books) bought for someone else: their address, a message,
    the day to deliver it. The orders that paid for it are its sales (the buyer's);
    the books are granted to whoever claims it (payments/gifts.py).

    pending (not paid yet) -> scheduled (paid, its day not come) -> sent -> claimed;
    scheduled / sent -> refunded (only while unclaimed). Each move is a locked,
    conditional transition: a retried task or a double click delivers, claims or
    refunds once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for payment"
        SCHEDULED = "scheduled", "Scheduled"
        SENT = "sent", "Sent, not claimed yet"
        CLAIMED = "claimed", "Claimed"
        REFUNDED = "refunded", "Refunded"
        FAILED = "failed", "Not paid"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="gifts_given"
    )
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="gifts"
    )
    # What the gift is of, for pages and e-mails (its orders hold the books).
    title = models.CharField(max_length=300)
    recipient_email = models.EmailField()
    message = models.TextField(blank=True, max_length=2000)
    deliver_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The claim link's secret; a new one when the buyer changes the address.
    claim_token = models.UUIDField(default=uuid.uuid4, unique=True)
    # How many claim e-mails went out (the delivery and each resend): the outbox key.
    sends = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="gifts_received",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "deliver_at"], name="gift_due")]

    def __str__(self):
        return f"Gift #{self.pk} · {self.title} · to {self.recipient_email} · {self.status}"

    def get_absolute_url(self):
        return reverse("payments:gift", kwargs={"public_id": self.public_id})

    @property
    def is_claimed(self) -> bool:
        return self.status == self.Status.CLAIMED


class TeamLicence(models.Model):
    """N seats of one book bought by a team manager in one payment: one order per
    seat at the per-seat price (each its own sale, royalty and refund). The manager
    invites a reader per seat; a seat's book is granted when its reader claims it."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="team_licences"
    )
    book = models.ForeignKey("catalog.Book", on_delete=models.PROTECT, related_name="+")
    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, related_name="team_licence")
    seat_price_cents = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Team licence #{self.pk} · {self.book_id} · {self.manager}"

    def get_absolute_url(self):
        return reverse("payments:team_licence", kwargs={"public_id": self.public_id})


class Seat(models.Model):
    """One seat of a team licence, paid by its own order. Invited (an address and a
    claim secret), claimed (a reader holds the book), reassignable until its holder
    downloads the book; refunded seats are closed."""

    licence = models.ForeignKey(TeamLicence, on_delete=models.CASCADE, related_name="seats")
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="seat")
    email = models.EmailField(blank=True)
    claim_token = models.UUIDField(default=uuid.uuid4, unique=True)
    invites = models.PositiveIntegerField(default=0)
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"Seat #{self.pk} of licence {self.licence_id}"
