"""The author's earnings, read from the ledger with aggregates in the database.

Every figure is the author's own share (co-authors see theirs). A fixed number
of queries, whatever the number of sales.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.utils import timezone

from catalog.models import Book

from .ledger import earnings_generation
from .models import LedgerDaily, LedgerEntry, Order

# Where a book's price comes from: the card (processor) or a reader's credit.
BUYER_ACCOUNTS = ["processor", "credits"]

RANGES = {
    "30d": "Last 30 days",
    "month": "This month",
    "last_month": "Last month",
    "year": "This year",
    "all": "All time",
    "custom": "Custom",
}


@dataclass(frozen=True)
class DateRange:
    key: str
    start: date | None  # inclusive; None = from the beginning
    end: date  # inclusive

    @property
    def label(self) -> str:
        return RANGES[self.key]

    def bounds(self) -> tuple[datetime | None, datetime]:
        tz = timezone.get_current_timezone()
        start = datetime.combine(self.start, time.min, tzinfo=tz) if self.start else None
        return start, datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=tz)


# A custom period is refused outside these years: the store sold nothing before,
# and a date near year 9999 overflows the day-after arithmetic of DateRange.bounds().
EARLIEST_YEAR = 2000
YEARS_AHEAD = 1


def custom_range_error(start: date | None, end: date | None, *, today=None) -> str:
    """Why a custom period cannot be shown ("" if it can)."""
    if start is None or end is None:
        return "Choose both a start and an end date (like 2026-01-31) for a custom period."
    latest = (today or timezone.localdate()).year + YEARS_AHEAD
    if not (EARLIEST_YEAR <= start.year <= latest and EARLIEST_YEAR <= end.year <= latest):
        return f"Choose dates between the years {EARLIEST_YEAR} and {latest}."
    if start > end:
        return "The start date must be on or before the end date."
    return ""


def date_range(
    key: str, *, start: date | None = None, end: date | None = None, today=None
) -> DateRange:
    today = today or timezone.localdate()
    if key == "month":
        return DateRange(key, today.replace(day=1), today)
    if key == "last_month":
        last_day = today.replace(day=1) - timedelta(days=1)
        return DateRange(key, last_day.replace(day=1), last_day)
    if key == "year":
        return DateRange(key, today.replace(month=1, day=1), today)
    if key == "all":
        return DateRange(key, None, today)
    if key == "custom" and not custom_range_error(start, end, today=today):
        return DateRange(key, start, end)
    return DateRange("30d", today - timedelta(days=29), today)


@dataclass
class BookEarnings:
    book: Book
    copies: int = 0
    gross_cents: int = 0
    royalties_cents: int = 0
    refunds_cents: int = 0  # negative: royalties taken back
    refunded_copies: int = 0
    free_copies: int = 0

    @property
    def net_cents(self) -> int:
        return self.royalties_cents + self.refunds_cents


@dataclass
class Balances:
    pending_cents: int = 0
    available_cents: int = 0
    paid_out_cents: int = 0


@dataclass
class Earnings:
    range: DateRange
    books: list[BookEarnings] = field(default_factory=list)
    balances: Balances = field(default_factory=Balances)
    daily: list[tuple[date, int]] = field(default_factory=list)

    @property
    def total(self) -> BookEarnings:
        total = BookEarnings(book=None)
        for row in self.books:
            total.copies += row.copies
            total.gross_cents += row.gross_cents
            total.royalties_cents += row.royalties_cents
            total.refunds_cents += row.refunds_cents
            total.refunded_copies += row.refunded_copies
            total.free_copies += row.free_copies
        return total


def _in_range(range_: DateRange, field_name="created_at") -> Q:
    start, end = range_.bounds()
    q = Q(**{f"{field_name}__lt": end})
    if start:
        q &= Q(**{f"{field_name}__gte": start})
    return q


def _days(range_: DateRange) -> Q:
    q = Q(day__lte=range_.end)
    if range_.start:
        q &= Q(day__gte=range_.start)
    return q


def balances(author, *, now=None) -> Balances:
    """Pending, available and paid out, to the second: whole days from the daily sums,
    today's boundary from the few entries whose payout date is today."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    today_start = datetime.combine(today, time.min, tzinfo=timezone.get_current_timezone())
    settled = ["sale", "refund", "unrefund"]
    days = LedgerDaily.objects.filter(author_key=author.pk, account="author").aggregate(
        pending=Sum("amount_cents", filter=Q(available_day__gt=today, kind__in=settled)),
        available=Sum("amount_cents", filter=Q(available_day__lt=today)),
        paid_out=Sum("amount_cents", filter=Q(kind__in=["payout", "reversal"])),
    )
    boundary = (
        LedgerEntry.objects.filter(author=author, available_at__gte=today_start)
        .filter(available_at__lt=today_start + timedelta(days=1))
        .aggregate(
            pending=Sum("amount_cents", filter=Q(available_at__gt=now, kind__in=settled)),
            available=Sum("amount_cents", filter=Q(available_at__lte=now)),
        )
    )
    return Balances(
        pending_cents=(days["pending"] or 0) + (boundary["pending"] or 0),
        available_cents=(days["available"] or 0) + (boundary["available"] or 0),
        paid_out_cents=-(days["paid_out"] or 0),
    )


def earnings_for(author, range_: DateRange, *, now=None) -> Earnings:
    """Per-book figures, balances and the daily chart; a fixed number of queries over
    the daily sums, whatever the number of sales."""
    books = {
        b.pk: b
        for b in Book.objects.filter(authorships__author=author)
        .only("id", "title", "slug")
        .order_by("title")
    }
    rows = {pk: BookEarnings(book=book) for pk, book in books.items()}
    in_range = _days(range_)
    settled = ["sale", "refund", "unrefund"]

    own = (
        LedgerDaily.objects.filter(
            in_range, account="author", author_key=author.pk, kind__in=settled
        )
        .values("book_key")
        .annotate(
            royalties=Sum("amount_cents", filter=Q(kind="sale")),
            refunds=Sum("amount_cents", filter=Q(kind="refund")),
        )
    )
    for row in own:
        if row["book_key"] in rows:
            rows[row["book_key"]].royalties_cents = row["royalties"] or 0
            rows[row["book_key"]].refunds_cents = row["refunds"] or 0

    cash = (
        LedgerDaily.objects.filter(
            in_range, account__in=BUYER_ACCOUNTS, book_key__in=list(books), kind__in=settled
        )
        .values("book_key")
        .annotate(
            copies=Sum("entries", filter=Q(kind="sale")),
            gross=Sum("amount_cents", filter=Q(kind="sale")),
            refunded=Sum("entries", filter=Q(kind="refund")),
        )
    )
    for row in cash:
        target = rows[row["book_key"]]
        target.copies, target.gross_cents = row["copies"] or 0, -(row["gross"] or 0)
        target.refunded_copies = row["refunded"] or 0

    free = (
        Order.objects.filter(_in_range(range_, "paid_at"), book_id__in=list(books), amount_cents=0)
        .values("book_id")
        .annotate(n=Count("id"))
    )
    for row in free:
        rows[row["book_id"]].free_copies = row["n"]

    daily = (
        LedgerDaily.objects.filter(in_range, account="author", author_key=author.pk, kind="sale")
        .values("day")
        .annotate(total=Sum("amount_cents"))
        .order_by("day")
    )
    return Earnings(
        range=range_,
        books=list(rows.values()),
        balances=balances(author, now=now),
        daily=[(row["day"], row["total"]) for row in daily],
    )


def sales_count(author, range_: DateRange) -> int:
    """How many rows sales_rows() has, from the daily sums (COUNT(*) over a million
    entries would cost more than the whole page)."""
    return (
        LedgerDaily.objects.filter(
            _days(range_), account="author", author_key=author.pk, kind__in=["sale", "refund"]
        ).aggregate(n=Sum("entries"))["n"]
        or 0
    )


def sales_rows(author, range_: DateRange):
    """The author's sales and refunds in the range, newest first (the table and the CSV)."""
    return (
        LedgerEntry.objects.filter(_in_range(range_), author=author, kind__in=["sale", "refund"])
        .select_related("book", "transaction__order__coupon")
        .only(
            "created_at",
            "amount_cents",
            "kind",
            "available_at",
            "book__title",
            "book__slug",
            "transaction__order__amount_cents",
            "transaction__order__status",
            "transaction__order__public_id",
            "transaction__order__coupon__code",
            "transaction__order__gift_id",
            "transaction__order__team_licence_id",
        )
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    start: date  # the first day the bar sums
    cents: int


@dataclass(frozen=True)
class Chart:
    unit: str  # "day", "week" or "month": what one bar sums
    bars: list[Bar]


def chart(daily: list[tuple[date, int]], range_: DateRange, *, width=600, height=120) -> Chart:
    """Royalties as SVG bars: one per day up to three months, per week up to three
    years, per month beyond (a readable chart and a small page whatever the range)."""
    start = range_.start or (daily[0][0] if daily else range_.end)
    span = (range_.end - start).days + 1
    if span <= 92:
        unit, bucket = "day", lambda d: d
    elif span <= 3 * 366:
        unit, bucket = "week", lambda d: d - timedelta(days=d.weekday())
    else:
        unit, bucket = "month", lambda d: d.replace(day=1)
    sums: dict[date, int] = {}
    for day, cents in daily:
        sums[bucket(day)] = sums.get(bucket(day), 0) + cents
    first = bucket(start)

    def index(day):
        if unit == "month":
            return (day.year - first.year) * 12 + day.month - first.month
        return (day - first).days // (7 if unit == "week" else 1)

    slot_width = width / (index(bucket(range_.end)) + 1)
    top = max(sums.values(), default=0) or 1
    bars = [
        Bar(
            x=round(index(day) * slot_width, 2),
            y=round(height - cents * height / top, 2),
            width=max(round(slot_width - 1, 2), 1),
            height=round(cents * height / top, 2),
            start=day,
            cents=cents,
        )
        for day, cents in sorted(sums.items())
        if cents > 0
    ]
    return Chart(unit=unit, bars=bars)


DASHBOARD_CACHE_SECONDS = 60  # balances move as refund windows close: bound the age
# A dashboard older than DASHBOARD_CACHE_SECONDS is still served for this long
# while one request computes its successor (no stampede of identical queries).
DASHBOARD_STALE_SECONDS = 60


@dataclass(frozen=True)
class Dashboard:
    earnings: Earnings
    sales_count: int
    chart: Chart
    cache_key: str  # unique per computation: also keys the rendered figures (fragment cache)
    fresh_until: float = 0.0


def cached_dashboard(author, range_: DateRange) -> Dashboard:
    """The dashboard's figures, cached per author and range until the author's next
    ledger entry (ledger.forget_earnings) or DASHBOARD_CACHE_SECONDS pass.

    When the figures are older than that, the first request to notice takes a
    short lock and recomputes them; requests meanwhile get the previous figures
    (at most DASHBOARD_STALE_SECONDS more) instead of all running the same
    aggregates at once.
    """
    key = (
        f"earnings:{author.pk}:{earnings_generation(author.pk)}:"
        f"{range_.key}:{range_.start}:{range_.end}:{timezone.localdate()}"
    )
    value = cache.get(key)
    now = timezone.now().timestamp()
    if value is not None and (
        value.fresh_until > now or not cache.add(f"{key}:refreshing", 1, timeout=30)
    ):
        return value
    data = earnings_for(author, range_)
    value = Dashboard(
        data,
        sales_count(author, range_),
        chart(data.daily, range_),
        cache_key=f"{key}:{now}",
        fresh_until=now + DASHBOARD_CACHE_SECONDS,
    )
    cache.set(key, value, DASHBOARD_CACHE_SECONDS + DASHBOARD_STALE_SECONDS)
    cache.delete(f"{key}:refreshing")
    return value
