"""What one purchase costs the web worker, step by step, in numbers that do not
depend on how busy the machine is: SQL statements and Python function calls.

The launch (bench/launch.py) measures purchases per second, which on a shared
machine moves by a third from one run to the next as the CPU's speed does. To
tell whether a change made the purchase cheaper, count instead: this runs the
launch's four steps (checkout page, place order, payment page, demo card) in
process, through the whole middleware stack and the views, for ``--readers`` new
readers, and prints for each step the statements it sent and the Python calls
it made (cProfile's count, the same for the same code and data), after a few
warm-up purchases. CPU milliseconds are printed too, for what they are worth.

    bench/run's environment, then: python -m bench.purchase_calls [--readers 25]

It needs the demo book (seed_demo) and the demo gateway (PAYMENT_GATEWAY=demo,
DEMO_STORE=true); its readers are named calls-<run>-<n>@bench.example.
"""

import argparse
import cProfile
import os
import pstats
import statistics
import time
import uuid
from urllib.parse import urlencode

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_floor")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench.launch import BOOK, HIDDEN, STEPS  # noqa: E402
from catalog.models import Book  # noqa: E402
from core.money import format_plain  # noqa: E402

WARM_UP = 3
HEADERS = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "127.0.0.1"}
FORM = "application/x-www-form-urlencoded"  # what a browser (and bench/launch.py) posts
CARD = {"card_number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123"}


def _form(response) -> dict:
    return dict(HIDDEN.findall(response.content.decode()))


def _purchase(client: Client, book: Book, measure) -> None:
    """The launch's four steps for the signed-in reader of ``client``."""
    amount = format_plain(book.suggested_price_cents)
    checkout = f"/checkout/{book.slug}/"
    page = measure("checkout", lambda: client.get(checkout, {"amount": amount}, **HEADERS))
    form = _form(page)
    body = {"csrfmiddlewaretoken": form["csrfmiddlewaretoken"], "amount": amount}
    body["checkout_token"] = form["checkout_token"]
    referer = f"https://127.0.0.1{checkout}"
    placed = measure(
        "place order",
        lambda: client.post(
            f"{checkout}pay/", urlencode(body), FORM, HTTP_REFERER=referer, **HEADERS
        ),
        expect=302,
    )
    payment = placed["Location"]
    form = _form(measure("payment page", lambda: client.get(payment, **HEADERS)))
    card = {"csrfmiddlewaretoken": form["csrfmiddlewaretoken"], **CARD}
    referer = f"https://127.0.0.1{payment}"
    measure(
        "demo card",
        lambda: client.post(payment, urlencode(card), FORM, HTTP_REFERER=referer, **HEADERS),
        expect=302,
    )


def run(readers: int) -> dict[str, dict]:
    book = Book.objects.get(slug=BOOK)
    run_id = uuid.uuid4().hex[:8]
    User = get_user_model()
    users = User.objects.bulk_create(
        User(email=f"calls-{run_id}-{i:04d}@bench.example", name=f"Calls reader {i}")
        for i in range(readers + WARM_UP)
    )
    client = Client(enforce_csrf_checks=True)  # one handler, as one worker has
    figures = {step: {"statements": [], "calls": [], "cpu_ms": []} for step in STEPS}
    counting = False

    def measure(step, request, expect=200):
        profile = cProfile.Profile()
        with CaptureQueriesContext(connection) as queries:
            start = time.process_time()
            response = profile.runcall(request) if counting else request()
            cpu = time.process_time() - start
        if response.status_code != expect:
            raise RuntimeError(f"{step}: answered {response.status_code}, not {expect}")
        if counting:
            figures[step]["statements"].append(len(queries))
            figures[step]["calls"].append(pstats.Stats(profile).total_calls)
            figures[step]["cpu_ms"].append(cpu * 1000)  # with the profiler's own cost
        return response

    for index, user in enumerate(users):
        counting = index >= WARM_UP
        client.cookies.clear()
        client.force_login(user)
        _purchase(client, book, measure)
    return {
        step: {name: statistics.median(values) for name, values in numbers.items()}
        for step, numbers in figures.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=25)
    args = parser.parse_args()
    result = run(args.readers)
    print(f"median of {args.readers} purchases (after {WARM_UP} to warm up)")
    print(f"{'step':<14}{'statements':>11}{'Python calls':>14}{'CPU ms (profiled)':>19}")
    for step, numbers in result.items():
        print(
            f"{step:<14}{numbers['statements']:>11.0f}{numbers['calls']:>14,.0f}"
            f"{numbers['cpu_ms']:>19.1f}"
        )
    total = {name: sum(n[name] for n in result.values()) for name in ("statements", "calls")}
    print(f"{'purchase':<14}{total['statements']:>11.0f}{total['calls']:>14,.0f}")


if __name__ == "__main__":
    main()
