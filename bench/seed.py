"""Fill the freshly migrated bench database, fast and the same every time.

Run by bench/run after `migrate` (python -m bench.seed). Rows are generated in
Python from one fixed random seed and streamed into PostgreSQL with binary
COPY (psycopg ``cursor.copy``), all in one transaction:

1. the loaded tables' foreign keys, unique constraints and secondary indexes
   are dropped (their exact DDL is read from the catalog first);
2. the tables are truncated and loaded with ``COPY ... (FORMAT BINARY, FREEZE)``
   (frozen, all-visible rows: no hint-bit writes or vacuum needed afterwards);
3. every index and constraint is re-created from the saved DDL, so PostgreSQL
   itself checks every unique constraint and foreign key on the full data.

CHECK constraints stay in place during the load. Money follows the product's
rule: each order's royalty is ``royalty_for(amount)``, split between the
book's co-authors with ``split_royalty``; a sale's ledger entries are the
processor (-amount), each author's non-zero part and the platform's remainder,
so every transaction sums to zero. Timestamps are relative to the start of the
current UTC day, so relative windows (refund window, last 30 days) hold the
same data on every run.

Prints one JSON line ("SEED_JSON {...}") with row counts and timings.
"""

import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_floor")
django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, models  # noqa: E402
from django.utils.text import slugify  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402

from accounts.models import User  # noqa: E402
from catalog.models import (  # noqa: E402
    Author,
    Book,
    BookAuthor,
    Category,
    Release,
    ReleaseFile,
    TocEntry,
)
from library.models import Entitlement  # noqa: E402
from payments import ledger_guards  # noqa: E402
from payments.models import LedgerEntry, LedgerTransaction, Order  # noqa: E402
from payments.pricing import amount_error, price_range  # noqa: E402
from payments.royalties import royalty_for, split_royalty  # noqa: E402

SEED = 20_250_601
N_BOOKS = 10_000
N_AUTHORS = 3_000
N_READERS = 100_000
N_ORDERS = 1_000_000
HEAVY_READER_BOOKS = 500  # the reader whose library is benchmarked
BENCH_AUTHOR_BOOKS = 250  # books the bench author (co-)writes
BENCH_AUTHOR_SALES_SHARE = 0.5  # of all draws of a book to buy
HISTORY_DAYS = 730  # orders are spread over the last two years

BENCH_AUTHOR_EMAIL = "bench-author@bench.example"
HEAVY_READER_EMAIL = "library500@bench.example"
# Django's "!" prefix marks an unusable password: these users cannot log in.
UNUSABLE_PASSWORD = "!bench-user-without-password"  # noqa: S105

CATEGORIES = [
    # The first five are the demo catalog's: seed_demo files its books under them too.
    "Software Architecture",
    "Databases",
    "Python",
    "Tools",
    "Writing",
    "Programming Languages",
    "Data Science",
    "DevOps",
    "Security",
    "Web Development",
    "Career",
    "Mathematics",
]
# topic word -> its category (index in CATEGORIES); titles and texts use the topics.
TOPICS = {
    "Microservices": 0, "Event Sourcing": 0, "Domain-Driven Design": 0, "Distributed Systems": 0,
    "PostgreSQL": 1, "SQL": 1, "Indexing": 1, "Replication": 1,
    "Python": 2, "Django": 2, "asyncio": 2, "Type Hints": 2,
    "Git": 3, "Vim": 3, "the Shell": 3, "Make": 3,
    "Technical Writing": 4, "Documentation": 4, "Self-Publishing": 4,
    "Rust": 5, "Go": 5, "Elixir": 5, "TypeScript": 5, "Haskell": 5,
    "Machine Learning": 6, "Statistics": 6, "Data Pipelines": 6, "Pandas": 6,
    "Kubernetes": 7, "Observability": 7, "Terraform": 7, "CI/CD": 7,
    "Cryptography": 8, "Threat Modeling": 8, "OAuth": 8,
    "HTTP": 9, "CSS": 9, "Web Performance": 9, "Accessibility": 9,
    "Engineering Management": 10, "Interviews": 10, "Freelancing": 10,
    "Linear Algebra": 11, "Probability": 11, "Graph Theory": 11,
}  # fmt: skip
ADJECTIVES = [
    "Practical", "Modern", "Effective", "Pragmatic", "Hands-On", "Advanced", "Beginning",
    "Real-World", "Scalable", "Essential", "Idiomatic", "Production", "Fearless", "Serious",
]  # fmt: skip
FIRST_NAMES = [
    "Ada", "Alan", "Grace", "Linus", "Barbara", "Donald", "Edsger", "Frances", "Guido", "Hedy",
    "Ivan", "Joan", "Ken", "Lynn", "Margaret", "Niklaus", "Olga", "Peter", "Radia", "Sophie",
    "Tim", "Ursula", "Vint", "Wendy", "Xavier", "Yukihiro", "Zoe", "Anita", "Bjarne", "Carla",
    "Dennis", "Elena", "Fernando", "Gloria", "Hiro", "Irene", "James", "Katherine", "Leslie",
    "Mary", "Noam", "Ole", "Priya", "Quentin", "Rosa", "Sanjay", "Tanya", "Ulrich", "Valeria",
    "Werner",
]  # fmt: skip
LAST_NAMES = [
    "Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Knuth", "Dijkstra", "Allen",
    "van Rossum", "Lamarr", "Sutherland", "Clarke", "Thompson", "Conway", "Hamilton", "Wirth",
    "Ladyzhenskaya", "Naur", "Perlman", "Wilson", "Berners-Lee", "Franklin", "Cerf", "Hall",
    "Leroy", "Matsumoto", "Ritchie", "Borg", "Stroustrup", "Meyer", "Kernighan", "Moreno",
    "Corbato", "Estrin", "Ishiguro", "Greif", "Gosling", "Johnson", "Lamport", "Shaw", "Chomsky",
    "Dahl", "Rao", "Tarjan", "Parks", "Ghemawat", "Petrova", "Drepper", "Ortiz", "Vogels",
    "Hejlsberg", "Milner", "Backus", "Kay", "Goldberg", "McCarthy", "Hoare", "Floyd", "Rivest",
    "Shamir",
]  # fmt: skip
LANGUAGES = [("en", 80), ("de", 5), ("es", 5), ("fr", 4), ("pt-br", 4), ("ja", 2)]
STATUSES = [
    (Book.Status.COMPLETED, 80),
    (Book.Status.IN_PROGRESS, 15),
    (Book.Status.DRAFT, 3),
    (Book.Status.RETIRED, 2),
]
SOLD_STATUSES = {Book.Status.COMPLETED, Book.Status.IN_PROGRESS, Book.Status.RETIRED}
# (minimum, weight); the suggested price is chosen above it.
MINIMUM_PRICES = [(0, 15), (99, 5), (499, 15), (799, 20), (999, 20), (1499, 15), (1999, 10)]
CO_AUTHOR_SHARES = {1: [(100,)], 2: [(50, 50), (60, 40), (70, 30)], 3: [(34, 33, 33), (50, 25, 25)]}


def _pick(rng: random.Random, weighted):
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights=weights)[0]


class Loader:
    """Binary COPY into one model's table; columns the seed does not set get the
    model field's default, so a new field with a default needs no change here."""

    def __init__(self, cursor, model, attnames: list[str], now: datetime):
        fields = {f.attname: f for f in model._meta.local_concrete_fields}
        unknown = set(attnames) - set(fields)
        if unknown:
            raise SystemExit(f"seed: {model.__name__} has no field(s) {sorted(unknown)}")
        self.cursor, self.table = cursor, model._meta.db_table
        rest = [f for name, f in fields.items() if name not in attnames]
        self.defaults = tuple(self._default(model, f, now) for f in rest)
        self.columns = [fields[a].column for a in attnames] + [f.column for f in rest]
        cursor.execute(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
            " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            [self.table],
        )
        types = dict(cursor.fetchall())
        self.types = [types[c] for c in self.columns]
        self.rows = 0

    @staticmethod
    def _default(model, field, now):
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            return now
        value = field.get_default() if field.has_default() or not field.null else None
        if value is None and not field.null:
            raise SystemExit(
                f"seed: {model.__name__}.{field.name} is required and has no default; "
                "bench/seed.py must set it"
            )
        if isinstance(field, models.JSONField) and value is not None:
            return Jsonb(value)
        return value

    def load(self, rows):
        cols = ", ".join(f'"{c}"' for c in self.columns)
        defaults = self.defaults
        with self.cursor.copy(
            f"COPY {self.table} ({cols}) FROM STDIN (FORMAT BINARY, FREEZE)"
        ) as copy:
            copy.set_types(self.types)
            write = copy.write_row
            n = 0
            for row in rows:
                write(row + defaults)
                n += 1
        self.rows = n
        return n


def _strip_constraints(cursor, tables: list[str]) -> list[str]:
    """Drop the tables' FKs, unique constraints and secondary indexes; return the
    DDL that puts every one of them back (indexes and uniques first, then FKs)."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('u', 'f')",
        [tables],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid"
        " AND c.contype IN ('p', 'u', 'x'))",
        [tables],
    )
    indexes = cursor.fetchall()
    restore_unique, restore_fk = [], []
    for table, name, kind, definition in sorted(constraints, key=lambda c: c[2] != "f"):
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        ddl = f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        (restore_fk if kind == "f" else restore_unique).append(ddl)
    for name, definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
        restore_unique.append(definition)
    return restore_unique + restore_fk


def _truncate(cursor, tables: list[str]):
    """TRUNCATE the loaded tables (COPY FREEZE needs it in this transaction), with
    the other tables whose foreign keys point at them (transitively); those must
    be empty."""
    others: list[str] = []
    while True:
        cursor.execute(
            "SELECT DISTINCT conrelid::regclass::text FROM pg_constraint"
            " WHERE contype = 'f' AND confrelid = ANY(%s::regclass[])"
            " AND NOT conrelid = ANY(%s::regclass[])",
            [tables + others, tables + others],
        )
        found = [row[0] for row in cursor.fetchall()]
        if not found:
            break
        others += found
    for table in tables + others:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608 - catalog names
        if cursor.fetchone()[0]:
            raise SystemExit(f"seed: {table} is not empty; bench/run seeds a fresh database")
    cursor.execute(f"TRUNCATE {', '.join(tables + others)}")


class Catalog:
    """The generated data, kept in memory between the COPY passes."""

    def __init__(self, rng: random.Random, now: datetime):
        self.rng, self.now = rng, now
        self.topics = list(TOPICS)

    # --- people -------------------------------------------------------------

    def build_people(self):
        rng = self.rng
        names = [f"{f} {last}" for f in FIRST_NAMES for last in LAST_NAMES]
        rng.shuffle(names)
        self.author_names = ["Bench Author", *names[: N_AUTHORS - 1]]
        # users 1..N_AUTHORS are the authors' accounts (author k has user k);
        # readers follow, the first of them being the 500-book reader.
        self.first_reader = N_AUTHORS + 1
        self.reader_ids = range(self.first_reader, self.first_reader + N_READERS)

    def users(self):
        rng, now = self.rng, self.now
        for k, name in enumerate(self.author_names, start=1):
            email = BENCH_AUTHOR_EMAIL if k == 1 else f"author{k:04d}@bench.example"
            joined = now - timedelta(days=1200 + rng.randint(0, 400))
            yield (k, UNUSABLE_PASSWORD, None, False, False, True, joined, email, name)
        for uid in self.reader_ids:
            n = uid - self.first_reader
            email = HEAVY_READER_EMAIL if n == 0 else f"reader{n:06d}@bench.example"
            joined = now - timedelta(days=rng.randint(0, HISTORY_DAYS + 100))
            yield (uid, UNUSABLE_PASSWORD, None, False, False, True, joined, email, "")

    def authors(self):
        for k, name in enumerate(self.author_names, start=1):
            slug = "bench-author" if k == 1 else f"{slugify(name)}-{k}"
            bio = f"{name} writes about {self.rng.choice(self.topics)} and teaches it."
            yield (k, k, name, slug, bio, self.now - timedelta(days=1200))

    # --- books ----------------------------------------------------------------

    def build_books(self):
        rng, now = self.rng, self.now
        self.books = []  # (id, status, min, suggested, published_at, topic)
        for book_id in range(1, N_BOOKS + 1):
            status = _pick(rng, STATUSES)
            minimum = _pick(rng, MINIMUM_PRICES)
            suggested = rng.choice([499, 999, 1499]) if minimum == 0 else minimum + rng.choice([0, 500, 1000])  # fmt: skip
            published = None if status == Book.Status.DRAFT else now - timedelta(days=rng.uniform(1, 1100))  # fmt: skip
            self.books.append(
                (book_id, status, minimum, suggested, published, rng.choice(self.topics))
            )
        sold = [b[0] for b in self.books if b[1] in SOLD_STATUSES]
        self.sold_ids = sold
        self.bench_books = set(rng.sample(sold, BENCH_AUTHOR_BOOKS))
        # Authorships: 1-3 authors; the bench author leads 60% of their books.
        self.shares = {}  # book_id -> [(author_id, share)]
        others = range(2, N_AUTHORS + 1)
        for book_id, *_ in self.books:
            n = _pick(rng, [(1, 60), (2, 30), (3, 10)])
            chosen = rng.sample(others, n)
            if book_id in self.bench_books:
                chosen[0 if rng.random() < 0.6 or n == 1 else 1] = 1
            shares = rng.choice(CO_AUTHOR_SHARES[n])
            self.shares[book_id] = list(zip(chosen, shares, strict=True))

    def build_orders(self):
        """Who bought what, when and for how much: one order per reader and book."""
        rng, now = self.rng, self.now
        # Popularity: Zipf-like within each group; the bench author's books get
        # BENCH_AUTHOR_SALES_SHARE of all draws between them.
        bench = [b for b in self.sold_ids if b in self.bench_books]
        rest = [b for b in self.sold_ids if b not in self.bench_books]
        rng.shuffle(bench)
        rng.shuffle(rest)

        def zipf(ids, total):
            raw = [1 / (rank**0.8) for rank in range(1, len(ids) + 1)]
            scale = total / sum(raw)
            return [w * scale for w in raw]

        population = bench + rest
        weights = zipf(bench, BENCH_AUTHOR_SALES_SHARE) + zipf(rest, 1 - BENCH_AUTHOR_SALES_SHARE)
        cum, acc = [], 0.0
        for w in weights:
            acc += w
            cum.append(acc)

        # Books per reader: around 10, from 1 to 40, summing to exactly N_ORDERS.
        others = N_READERS - 1
        counts = [10] * others
        surplus = sum(counts) - (N_ORDERS - HEAVY_READER_BOOKS)
        while surplus > 0:
            i = rng.randrange(others)
            if counts[i] > 1:
                counts[i] -= 1
                surplus -= 1
        while surplus < 0:
            counts[rng.randrange(others)] += 1
            surplus += 1
        for _ in range(others * 2):
            a, b, d = rng.randrange(others), rng.randrange(others), rng.randint(1, 6)
            if counts[a] - d >= 1 and counts[b] + d <= 40:
                counts[a] -= d
                counts[b] += d

        book_info = {b[0]: b for b in self.books}
        earliest = (now - timedelta(days=HISTORY_DAYS)).timestamp()
        latest = (now - timedelta(minutes=5)).timestamp()
        price_cache = {}

        def amount_for(book):
            """The minimum (at least $0.99), the suggested price, or more; checked
            with the checkout's own amount_error."""
            _, _, minimum, suggested, _, _ = book
            key = (minimum, suggested)
            if key not in price_cache:
                priced = SimpleNamespace(
                    minimum_price_cents=minimum, suggested_price_cents=suggested
                )
                top = price_range(priced).maximum
                amounts = [min(p, top) for p in (max(minimum, 99), suggested, suggested + 500, suggested * 2)]  # fmt: skip
                for amount in amounts:
                    if amount_error(priced, amount):
                        raise SystemExit(
                            f"seed: {amount} for {key}: {amount_error(priced, amount)}"
                        )
                price_cache[key] = amounts
            return rng.choices(price_cache[key], weights=(25, 55, 12, 8))[0]

        raw = []  # (paid_ts, buyer, book, amount)
        heavy = rng.sample(self.sold_ids, HEAVY_READER_BOOKS)
        buyers = [(self.first_reader, heavy)]
        for n, uid in enumerate(self.reader_ids[1:]):
            k = counts[n]
            picked = dict.fromkeys(rng.choices(population, cum_weights=cum, k=k))
            while len(picked) < k:
                picked.setdefault(rng.choices(population, cum_weights=cum)[0])
            buyers.append((uid, list(picked)))
        for uid, book_ids in buyers:
            for book_id in book_ids:
                book = book_info[book_id]
                start = max(earliest, book[4].timestamp())
                raw.append((rng.uniform(start, latest), uid, book_id, amount_for(book)))
        raw.sort()  # ids grow with time, as in production
        if len(raw) != N_ORDERS:
            raise SystemExit(f"seed: generated {len(raw)} orders, expected {N_ORDERS}")
        self.orders = raw
        self.sales = Counter(o[2] for o in raw)

    def categories(self):
        for k, name in enumerate(CATEGORIES, start=1):
            yield (k, name, slugify(name))

    def book_rows(self):
        rng, now = self.rng, self.now
        for book_id, status, minimum, suggested, published, topic in self.books:
            adjective = rng.choice(ADJECTIVES)
            other = rng.choice(self.topics)
            title = f"{adjective} {topic}"
            subtitle = f"From {other} to {topic}, volume {book_id % 7 + 1}"
            blurb = f"A {adjective.lower()} guide to {topic} for people who ship software."
            about = (
                f"This book teaches {topic} the way it is used in real projects. "
                f"Each chapter starts from a working example, explains the trade-offs behind it "
                f"and ends with exercises. Readers who know some {other} will feel at home; "
                f"everyone else gets a gentle introduction first. Updated as {topic} evolves, "
                f"with free updates for every reader."
            )
            in_progress = status == Book.Status.IN_PROGRESS
            planned = rng.randint(8, 20) if in_progress else 0
            done = rng.randint(1, planned) if in_progress else 0
            updated = (published or now) + timedelta(days=rng.uniform(0, 30))
            release = book_id if published else None
            yield (
                book_id, f"bench-{slugify(topic)}-{book_id:05d}", title, subtitle, blurb, about,
                _pick(rng, LANGUAGES), status, done, planned,
                "Chapters arrive monthly." if in_progress else "", "USD", minimum, suggested,
                rng.randint(80, 600), rng.randint(20_000, 150_000),
                f"# Chapter 1\n\n{about}" if book_id % 2 else "",
                rng.random() < 0.01, self.sales.get(book_id, 0), release,
                (published or now) - timedelta(days=30), min(updated, now), published,
            )  # fmt: skip

    def book_categories(self):
        pk = 0
        for book_id, *_, topic in self.books:
            cats = {TOPICS[topic] + 1}
            if self.rng.random() < 0.3:
                cats.add(self.rng.randint(1, len(CATEGORIES)))
            for cat in sorted(cats):
                pk += 1
                yield (pk, book_id, cat)

    def authorships(self):
        pk = 0
        for book_id, *_ in self.books:
            for position, (author_id, share) in enumerate(self.shares[book_id]):
                pk += 1
                yield (pk, book_id, author_id, share, position)

    def toc(self):
        rng, pk = self.rng, 0
        for book_id, *_, topic in self.books:
            entries = []
            if rng.random() < 0.2:  # parts holding chapters
                for part in range(1, rng.randint(2, 3) + 1):
                    entries.append(("part", f"Part {part}: {rng.choice(self.topics)}", False))
                    entries += [("chapter", f"{topic} in depth, {c}", True) for c in range(1, 3)]
            else:
                entries = [("chapter", "Preface", False)]
                entries += [("chapter", f"{topic}, step {c}", False) for c in range(1, rng.randint(3, 7))]  # fmt: skip
            for position, (kind, title, in_part) in enumerate(entries, start=1):
                pk += 1
                yield (pk, book_id, position, kind, title, in_part, position <= 2)

    def releases(self):
        rng, now = self.rng, self.now
        for book_id, _status, _min, _sug, published, _topic in self.books:
            if published is None:
                continue
            # 30% were updated lately: their owners see "Updated since you got it".
            at = now - timedelta(days=rng.uniform(0, 120)) if rng.random() < 0.3 else published
            yield (book_id, book_id, f"1.{rng.randint(0, 9)}", "", max(at, published), max(at, published))  # fmt: skip

    def release_files(self):
        pk = 0
        for book_id, _status, _min, _sug, published, _topic in self.books:
            if published is None:
                continue
            for fmt in ("epub", "pdf"):
                pk += 1
                yield (pk, book_id, fmt, f"releases/{book_id}/bench-{book_id}.{fmt}", 1_500_000)

    # --- money ------------------------------------------------------------------

    def order_rows(self):
        rng = self.rng
        self.public_ids = []
        royalty = {}
        for pk, (ts, buyer, book, amount) in enumerate(self.orders, start=1):
            paid = datetime.fromtimestamp(ts, UTC)
            public_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            self.public_ids.append(public_id)
            if amount not in royalty:
                royalty[amount] = royalty_for(amount)
            yield (
                pk, public_id, buyer, book, "USD", amount, royalty[amount], "stripe",
                f"pi_bench{pk:09d}", uuid.UUID(int=rng.getrandbits(128), version=4), "paid", "",
                paid - timedelta(seconds=rng.randint(20, 600)), paid, None, "book", 0,
            )  # fmt: skip

    def transactions(self):
        for pk, (ts, *_rest) in enumerate(self.orders, start=1):
            yield (pk, "sale", pk, None, f"Order {pk}", datetime.fromtimestamp(ts, UTC))

    def entries(self):
        """processor -amount, each author's non-zero part, the platform's remainder."""
        window = timedelta(days=settings.REFUND_WINDOW_DAYS)
        splits = {}
        self.entry_counts = Counter()  # "own": the bench author's, "books": on their books
        bench_books = self.bench_books
        pk = 0
        for txn, (ts, _buyer, book, amount) in enumerate(self.orders, start=1):
            paid = datetime.fromtimestamp(ts, UTC)
            available = paid + window
            shares = self.shares[book]
            key = (amount, tuple(s for _, s in shares))
            if key not in splits:
                splits[key] = split_royalty(royalty_for(amount), list(key[1]))
            parts = splits[key]
            start = pk
            pk += 1
            yield (pk, txn, "processor", None, -amount, "USD", paid, "sale", book, available)
            for (author_id, _share), part in zip(shares, parts, strict=True):
                if part:
                    pk += 1
                    if author_id == 1:
                        self.entry_counts["own"] += 1
                    yield (pk, txn, "author", author_id, part, "USD", paid, "sale", book, available)
            platform = amount - sum(parts)
            if platform:
                pk += 1
                yield (pk, txn, "platform", None, platform, "USD", paid, "sale", book, available)
            if sum(parts) + platform != amount:
                raise SystemExit(f"seed: order {txn} does not balance")
            if book in bench_books:
                self.entry_counts["books"] += pk - start

    def entitlements(self):
        window = timedelta(days=settings.REFUND_WINDOW_DAYS)
        for pk, (ts, buyer, book, _amount) in enumerate(self.orders, start=1):
            paid = datetime.fromtimestamp(ts, UTC)
            yield (pk, buyer, book, paid, None, self.public_ids[pk - 1], paid + window, None, None, True)  # fmt: skip


def main():
    started = time.perf_counter()
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(SEED)
    data = Catalog(rng, now)
    data.build_people()
    data.build_books()
    data.build_orders()
    generated = time.perf_counter() - started

    book_categories = Book.categories.through
    plan = [
        (User, ["id", "password", "last_login", "is_superuser", "is_staff", "is_active", "date_joined", "email", "name"], data.users),
        (Author, ["id", "user_id", "display_name", "slug", "bio", "created_at"], data.authors),
        (Category, ["id", "name", "slug"], data.categories),
        (Book, ["id", "slug", "title", "subtitle", "blurb", "about", "language", "status",
                "installments_completed", "installments_planned", "early_access_note", "currency",
                "minimum_price_cents", "suggested_price_cents", "page_count", "word_count",
                "sample_markdown", "featured", "sales_count", "current_release_id", "created_at",
                "updated_at", "published_at"], data.book_rows),
        (book_categories, ["id", "book_id", "category_id"], data.book_categories),
        (BookAuthor, ["id", "book_id", "author_id", "royalty_share", "position"], data.authorships),
        (TocEntry, ["id", "book_id", "position", "kind", "title", "in_part", "in_sample"], data.toc),
        (Release, ["id", "book_id", "version", "notes", "created_at", "published_at"], data.releases),
        (ReleaseFile, ["id", "release_id", "format", "file", "size"], data.release_files),
        (Order, ["id", "public_id", "buyer_id", "book_id", "currency", "amount_cents",
                 "royalty_cents", "gateway", "gateway_reference", "checkout_token", "status",
                 "failure_reason", "created_at", "paid_at", "failed_at", "product", "credits"],
         data.order_rows),
        (LedgerTransaction, ["id", "kind", "order_id", "reverses_id", "memo", "created_at"], data.transactions),
        (LedgerEntry, ["id", "transaction_id", "account", "author_id", "amount_cents", "currency",
                       "created_at", "kind", "book_id", "available_at"], data.entries),
        (Entitlement, ["id", "user_id", "book_id", "granted_at", "revoked_at", "order_ref",
                       "refundable_until", "last_downloaded_release_id", "last_downloaded_at",
                       "notify_updates"], data.entitlements),
    ]  # fmt: skip
    tables = [model._meta.db_table for model, _, _ in plan]
    counts, timings = {}, {"generate_s": round(generated, 1)}
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # the psycopg cursor, for COPY
        with connection.connection.transaction():
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            restore = _strip_constraints(cursor, tables)
            _truncate(cursor, tables)
            # One set-based balance check at the end instead of a trigger per entry.
            ledger_guards.disable(cursor)
            t = time.perf_counter()
            for model, attnames, rows in plan:
                loader = Loader(cursor, model, attnames, now)
                counts[loader.table] = loader.load(rows())
            timings["copy_s"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            for ddl in restore:
                cursor.execute(ddl)
            ledger_guards.enable(cursor)
            timings["constraints_s"] = round(time.perf_counter() - t, 1)
            for table in tables:
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
    timings["total_s"] = round(time.perf_counter() - started, 1)
    entries_total = counts[LedgerEntry._meta.db_table]
    result = {
        "seed": SEED,
        "anchor": now.isoformat(),
        "rows": counts,
        "timings": timings,
        "bench_author": {
            "email": BENCH_AUTHOR_EMAIL,
            "books": len(data.bench_books),
            "orders_of_their_books": sum(data.sales[b] for b in data.bench_books),
            "own_ledger_entries": data.entry_counts["own"],
            "ledger_entries_on_their_books": data.entry_counts["books"],
            "ledger_entries_total": entries_total,
            "own_share_of_all_entries": round(data.entry_counts["own"] / entries_total, 3),
        },
        "heavy_reader": {"email": HEAVY_READER_EMAIL, "books": HEAVY_READER_BOOKS},
    }
    print("SEED_JSON " + json.dumps(result))
    print(
        f"seeded {sum(counts.values()):,} rows in {timings['total_s']} s "
        f"(generate {timings['generate_s']} s, copy {timings['copy_s']} s, "
        f"indexes+constraints {timings['constraints_s']} s)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
