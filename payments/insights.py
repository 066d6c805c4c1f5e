"""Author insights for one book over a period: the funnel (views -> checkouts ->
purchases -> refunds), the prices readers chose, and refund reasons per release.

Each figure is one aggregate query over an indexed table, whatever the number of
orders: views from ``catalog.BookDailyStats`` (flushed from the cache's
counters, catalog/stats.py), the rest from orders and refunds.

- Checkouts: book orders placed (``created_at`` in the period), whatever became of them.
- Purchases: orders that became a sale (a ``sale`` ledger transaction: free copies
  included, a second payment for a book the reader owned excluded) paid in the period.
- Refunds: refunds of such sales completed in the period (a refund later reversed
  by the gateway is not one).
- Prices: purchases in the period, except those paid with a credit (the reader
  chose no price: the amount is the credit's value).
- Refund reasons: requests made in the period (granted or not), each under the
  release that was current when the reader asked.
"""

from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, OuterRef, Q, Subquery, Sum

from catalog.models import Book, BookDailyStats, Release

from .earnings import DateRange
from .models import Order, Refund

PRICE_BINS = 12
CHART_HEIGHT = 48  # of the 50 units of the price chart's viewBox: 2 stay free on top
REASONS_PER_RELEASE = 10
REASONS_FETCHED = 200


@dataclass(frozen=True)
class Funnel:
    views: int
    checkouts: int
    purchases: int
    refunds: int

    def steps(self) -> list[dict]:
        """Each step with its share of the step before (None when that was 0)."""
        rows, previous = [], None
        for label, value in (
            ("Views", self.views),
            ("Checkouts", self.checkouts),
            ("Purchases", self.purchases),
            ("Refunds", self.refunds),
        ):
            rate = None if not previous else round(100 * value / previous, 1)
            rows.append({"label": label, "value": value, "rate": rate})
            previous = value
        top = max([row["value"] for row in rows] + [1])
        for row in rows:
            row["width"] = round(100 * row["value"] / top, 1)
        return rows


def _in_period(field_name: str, range_: DateRange) -> Q:
    start, end = range_.bounds()
    q = Q(**{f"{field_name}__lt": end})
    if start is not None:
        q &= Q(**{f"{field_name}__gte": start})
    return q


def _sales(book: Book):
    """The book's orders that became sales (free copies included, duplicates not)."""
    return Order.objects.sold().filter(book=book)


def funnel(book: Book, range_: DateRange) -> Funnel:
    days = Q(day__lte=range_.end) & (Q(day__gte=range_.start) if range_.start else Q())
    views = BookDailyStats.objects.filter(days, book=book).aggregate(n=Sum("views"))["n"] or 0
    checkouts = Order.objects.filter(
        _in_period("created_at", range_), book=book, product=Order.Product.BOOK
    ).count()
    purchases = _sales(book).filter(_in_period("paid_at", range_)).count()
    refunds = Refund.objects.filter(
        _in_period("refunded_at", range_),
        status=Refund.Status.REFUNDED,
        order__in=_sales(book).values("pk"),
    ).count()
    return Funnel(views=views, checkouts=checkouts, purchases=purchases, refunds=refunds)


# --- Prices ---------------------------------------------------------------------

NICE_STEPS = [50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000]


@dataclass(frozen=True)
class PriceBin:
    low_cents: int  # inclusive
    high_cents: int  # exclusive
    count: int
    # The bar in the chart's 100 x 50 viewBox.
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0


@dataclass
class PriceChart:
    minimum_cents: int
    suggested_cents: int
    total: int = 0
    bins: list[PriceBin] = field(default_factory=list)
    at_minimum: int = 0
    below_suggested: int = 0  # above the minimum, below the suggested price
    at_suggested: int = 0
    above_suggested: int = 0
    median_cents: int | None = None
    mean_cents: int | None = None
    scale_cents: int = 0  # the x axis ends here

    def position(self, cents: int) -> float:
        """Where ``cents`` sits on the x axis, in percent."""
        return round(100 * min(cents, self.scale_cents) / self.scale_cents, 2)

    @property
    def minimum_x(self) -> float:
        return self.position(self.minimum_cents)

    @property
    def suggested_x(self) -> float:
        return self.position(self.suggested_cents)


def _bin_width(top_cents: int) -> int:
    for step in NICE_STEPS:
        if step * PRICE_BINS >= top_cents:
            return step
    return -(-top_cents // PRICE_BINS)


def price_chart(book: Book, range_: DateRange) -> PriceChart:
    """How many purchases at each price, binned, against the minimum and suggested
    price: one GROUP BY query (a row per distinct price)."""
    counts = list(
        _sales(book)
        .filter(_in_period("paid_at", range_))
        .exclude(gateway="credit")
        .values_list("amount_cents")
        .annotate(n=Count("id"))
        .order_by("amount_cents")
    )
    chart = PriceChart(
        minimum_cents=book.minimum_price_cents, suggested_cents=book.suggested_price_cents
    )
    chart.total = sum(n for _amount, n in counts)
    top = max([amount for amount, _n in counts] + [book.suggested_price_cents, 100])
    width = _bin_width(top + 1)
    chart.scale_cents = width * (top // width + 1)
    bins = [0] * (chart.scale_cents // width)
    for amount, n in counts:
        bins[amount // width] += n
        if amount <= book.minimum_price_cents:
            chart.at_minimum += n
        elif amount < book.suggested_price_cents:
            chart.below_suggested += n
        elif amount == book.suggested_price_cents:
            chart.at_suggested += n
        else:
            chart.above_suggested += n
    tallest = max([*bins, 1])
    slot = 100 / len(bins)
    chart.bins = []
    for i, n in enumerate(bins):
        height = round(CHART_HEIGHT * n / tallest, 2)
        chart.bins.append(
            PriceBin(
                low_cents=i * width,
                high_cents=(i + 1) * width,
                count=n,
                x=round(i * slot + 0.2, 2),
                y=round(CHART_HEIGHT + 2 - height, 2),
                width=round(slot - 0.4, 2),
                height=height,
            )
        )
    if chart.total:
        chart.mean_cents = sum(a * n for a, n in counts) // chart.total
        chart.median_cents = _median(counts, chart.total)
    return chart


def _median(counts: list[tuple[int, int]], total: int) -> int:
    """The lower median of sorted (amount, count) pairs."""
    seen = 0
    for amount, n in counts:
        seen += n
        if 2 * seen >= total:
            return amount
    return counts[-1][0]


# --- Refund reasons per release -------------------------------------------------


@dataclass
class ReleaseRefunds:
    version: str | None  # None: before the first release
    published: date | None
    count: int = 0
    reasons: list[dict] = field(default_factory=list)


def refund_reasons(book: Book, range_: DateRange) -> list[ReleaseRefunds]:
    """Refund requests of the period under the release current when each was made;
    newest release first. Three queries: releases, counts, the latest reasons."""
    releases = list(
        Release.objects.filter(book=book, published_at__isnull=False)
        .order_by("-published_at", "-id")
        .values_list("pk", "version", "published_at")
    )
    current = Subquery(
        Release.objects.filter(book=book, published_at__lte=OuterRef("requested_at"))
        .order_by("-published_at", "-id")
        .values("pk")[:1]
    )
    requests = Refund.objects.filter(
        _in_period("requested_at", range_), order__in=_sales(book).values("pk")
    ).annotate(release=current)
    by_release = {
        pk: ReleaseRefunds(version, published.date()) for pk, version, published in releases
    }
    before = ReleaseRefunds(None, None)
    for release_id, n in requests.values_list("release").annotate(n=Count("id")).order_by():
        by_release.get(release_id, before).count += n
    latest = (
        requests.exclude(reason="")
        .order_by("-requested_at", "-id")
        .values("release", "reason", "requested_at", "status")[:REASONS_FETCHED]
    )
    for row in latest:
        group = by_release.get(row["release"], before)
        if len(group.reasons) < REASONS_PER_RELEASE:
            row["status_label"] = Refund.Status(row["status"]).label
            group.reasons.append(row)
    groups = list(by_release.values())
    if before.count:
        groups.append(before)
    return groups
