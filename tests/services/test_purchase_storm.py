"""Many readers buy at once through the HTML forms of a real server: no 500s, one
charge per book, a clean ledger (issue #17, "How it is checked").

The store runs under gunicorn (2 workers x 4 threads) on a database made for the
run: the embedded default (a SQLite file) and PostgreSQL. Twelve readers log in
and, all at the same moment:

- open the same book's checkout in two tabs and pay in both;
- triple-click Pay (the same checkout token posted three times at once), then the
  card form's Pay;
- pay, then refund that order while a second tab, at the card form since before
  the purchase, pays for the book;
- pay in one tab with a declined card while another tab pays with 4242.

Then: no response >= 500, at most one paid order per reader and book, the ledger's
net cash per reader and book at most one price, every paid order's book in the
library (and no book without a paid order), ``audit_ledger`` exits 0.
"""

import contextlib
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection

from tests.concurrency import at_once
from tests.conftest import require
from tests.services import storm
from tests.services.storm import DECLINED_CARD, SUCCEEDING_CARD, Storm

pytestmark = pytest.mark.services

READERS = 12
BOOKS = 3
ROLES = ("two tabs", "triple click", "refund while paying", "declined card")
# The book each role buys. Every role but the refunder (whose refund may come
# before or after the second tab's payment) must end with a paid order for it.
BOOK_OF_ROLE = {"two tabs": 0, "triple click": 1, "refund while paying": 2, "declined card": 1}


# --- the two databases ----------------------------------------------------------------


def _postgres_server_url() -> str:
    """The server the suite's own PostgreSQL database is on (CI), else the local default."""
    if connection.vendor != "postgresql":
        return "postgres://postgres@127.0.0.1:5432"
    s = connection.settings_dict
    user = quote(s.get("USER") or "", safe="")
    password = quote(s.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}{port}"


@contextlib.contextmanager
def fresh_postgres_database():
    server = _postgres_server_url()
    try:
        admin = psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        require(False, f"PostgreSQL is not reachable at {server}: {exc}")
    name = f"storm_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{server}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite3'}"
    else:
        with fresh_postgres_database() as url:
            yield url


# --- the run ----------------------------------------------------------------------------


def run_reader(run: Storm, role: str, email: str, book: str, start) -> None:
    try:
        _run_reader(run, role, email, book, start)
    except BaseException:
        start.abort()  # the others stop waiting for this reader at once
        raise


def _run_reader(run: Storm, role: str, email: str, book: str, start) -> None:
    session = run.login(email)
    first, second = session, Storm.tab(session)
    tabs = (first, second, Storm.tab(session))  # a triple click: three requests at once
    if role == "two tabs":
        forms = at_once(
            lambda: run.open_checkout(first, email, book),
            lambda: run.open_checkout(second, email, book),
        )
        start.wait(timeout=60)
        pages = at_once(
            lambda: run.place(first, email, book, forms[0]),
            lambda: run.place(second, email, book, forms[1]),
        )
        at_once(
            lambda: run.pay_card(first, email, pages[0], SUCCEEDING_CARD),
            lambda: run.pay_card(second, email, pages[1], SUCCEEDING_CARD),
        )
    elif role == "triple click":
        form = run.open_checkout(first, email, book)
        start.wait(timeout=60)
        pages = at_once(*(lambda tab=tab: run.place(tab, email, book, form) for tab in tabs))
        # Each click's answer is the order's card page: Pay is clicked on each.
        at_once(
            *(
                lambda tab=tab, page=page: run.pay_card(tab, email, page, SUCCEEDING_CARD)
                for tab, page in zip(tabs, pages, strict=True)
            )
        )
    elif role == "refund while paying":
        # The second tab reaches the card page before the first tab buys the book.
        later = run.place(second, email, book, run.open_checkout(second, email, book))
        form = run.open_checkout(first, email, book)
        start.wait(timeout=60)
        run.pay_card(first, email, run.place(first, email, book, form), SUCCEEDING_CARD)
        at_once(
            lambda: run.refund_first_paid_order(first, email, book),
            lambda: run.pay_card(second, email, later, SUCCEEDING_CARD),
        )
    else:  # declined card in one tab, 4242 in the other
        forms = at_once(
            lambda: run.open_checkout(first, email, book),
            lambda: run.open_checkout(second, email, book),
        )
        start.wait(timeout=60)
        at_once(
            lambda: run.pay_card(
                first, email, run.place(first, email, book, forms[0]), DECLINED_CARD
            ),
            lambda: run.pay_card(
                second, email, run.place(second, email, book, forms[1]), SUCCEEDING_CARD
            ),
        )


def purchase_storm(base_url: str, readers: list[str], books: list[str]) -> Storm:
    run = Storm(base_url)
    start = threading.Barrier(len(readers))  # every reader fires at the same moment
    roles = [ROLES[i % len(ROLES)] for i in range(len(readers))]
    calls = [
        (
            lambda role=role, email=email: run_reader(
                run, role, email, books[BOOK_OF_ROLE[role]], start
            )
        )
        for role, email in zip(roles, readers, strict=True)
    ]
    with ThreadPoolExecutor(len(calls)) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()
    return run


# --- what must be true afterwards ---------------------------------------------------------


def money_problems(state: dict, readers: list[str], books: list[str]) -> list[str]:
    by_pair = defaultdict(list)
    for order in state["orders"]:
        by_pair[order["reader"], order["book"]].append(order)
    owned = {(e["reader"], e["book"]) for e in state["entitlements"] if e["active"]}
    problems = []
    for (reader, book), orders in sorted(by_pair.items()):
        paid = [o for o in orders if o["status"] == "paid"]
        if len(paid) > 1:
            problems.append(f"double charge: {reader} has {len(paid)} paid orders for {book}")
        net = abs(sum(o["processor"] for o in orders))
        if net > max(o["amount"] for o in orders):
            problems.append(f"{reader} is out of pocket {net}¢ in the ledger for {book}")
        if paid and (reader, book) not in owned:
            problems.append(f"{reader} paid for {book} but it is not in their library")
        if not paid and (reader, book) in owned:
            problems.append(f"{reader} has {book} in their library without a paid order")
        for order in orders:
            if order["refund"] not in (None, "refunded"):
                problems.append(f"{reader}'s refund for {book} is stuck: {order['refund']}")
    for i, reader in enumerate(readers):
        role = ROLES[i % len(ROLES)]
        book = books[BOOK_OF_ROLE[role]]
        paid = [o for o in by_pair[reader, book] if o["status"] == "paid"]
        if role != "refund while paying" and not paid:
            problems.append(f"{reader} ({role}) paid with 4242 and has no paid order for {book}")
    return problems


def test_readers_buying_at_once_through_the_forms_are_charged_once_and_never_see_a_500(
    database_url, tmp_path
):
    var_dir = tmp_path / "var"
    storm.prepare_var_dir(var_dir)
    storm.manage(database_url, var_dir, "migrate", "--noinput")
    seeded = storm.seed(database_url, var_dir, books=BOOKS, readers=READERS)

    with storm.running_store(database_url, var_dir) as store:
        began = time.monotonic()
        run = purchase_storm(store.base_url, seeded["readers"], seeded["books"])
        seconds = time.monotonic() - began
        log = store.log()

    errors = run.server_errors()
    state = storm.money_state(database_url, var_dir)
    problems = money_problems(state, seeded["readers"], seeded["books"])
    audit = storm.manage(database_url, var_dir, "audit_ledger", check=False)
    statuses = Counter(f"{o['status']}/{o['refund'] or '-'}" for o in state["orders"])
    report = [
        f"{len(run.hits)} responses in {seconds:.1f}s ({run.summary()}); "
        f"book orders by status/refund: {dict(sorted(statuses.items()))}"
    ]
    print(report[0])  # shown with -s or on failure: what the storm did
    if errors:
        report.append(f"{len(errors)} responses were >= 500 or never came:")
        report += [f"  {h.status} {h.method} {h.path} ({h.reader}): {h.body}" for h in errors]
    report += [f"refused: {h.status} {h.method} {h.path} ({h.reader})" for h in run.refused()]
    report += problems
    if audit.returncode != 0:
        report.append(f"audit_ledger exited {audit.returncode}: {audit.stdout}{audit.stderr}")
    if errors:
        report.append("exceptions in the server log:")
        report += [f"  {n} x {line[:200]}" for line, n in storm.exceptions_in(log).most_common()]
    failed = errors or run.refused() or problems or audit.returncode != 0
    assert not failed, "\n".join(report)
