"""A book launch: thousands of distinct signed-in readers buy the same book at once.

Part of bench/run (bench/README.md). Against a gunicorn on the demo payment
gateway (bench/run starts one: BENCH_LAUNCH_PORT) and a real Celery worker
(BENCH_CELERY_PID), ``LAUNCH_READERS`` new readers each buy the demo book through
the HTML forms, as a browser would, from ``LAUNCH_CLIENTS`` concurrent clients:

1. ``checkout``: GET the checkout page for the suggested price (its form holds the
   page's checkout token and the CSRF token);
2. ``place order``: POST it; a 302 to the order's payment page;
3. ``payment page``: GET the demo card form;
4. ``demo card``: POST the test card; a 302 to the receipt.

Then it checks what a launch must never get wrong: every reader has exactly one
paid order and the book, no order was charged twice, one receipt was queued per
purchase (the Celery worker sends them), and ``audit_ledger`` finds every cent.

    python -m bench.launch            # under bench/run's environment
"""

import http.client
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_floor")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db.models import Count  # noqa: E402

from catalog.models import Book, ReleaseFile  # noqa: E402
from core.models import EmailDelivery  # noqa: E402
from core.money import format_plain  # noqa: E402
from library.models import Entitlement, StampedFile  # noqa: E402
from payments.models import Order  # noqa: E402

BOOK = "behindthestack-netflix-architecture"
READERS = int(os.environ.get("LAUNCH_READERS", "2000"))
CLIENTS = int(os.environ.get("LAUNCH_CLIENTS", "32"))
STEPS = ("checkout", "place order", "payment page", "demo card")
TARGET_RPS = 100.0  # completed purchases per second
TARGET_P99_MS = 500.0  # of every step
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


@dataclass
class Result:
    readers: int
    clients: int
    seconds: float = 0.0
    completed: int = 0
    errors: list = field(default_factory=list)
    latencies: dict = field(default_factory=lambda: {step: [] for step in STEPS})
    checks: dict = field(default_factory=dict)
    celery_peak_rss_mb: float | None = None
    bulk_peak_rss_mb: float | None = None
    cpu_ms_per_purchase: dict = field(default_factory=dict)
    machine: dict = field(default_factory=dict)

    @property
    def purchases_per_second(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def percentile(self, step: str, q: float) -> float:
        values = sorted(self.latencies[step])
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(q * len(values)))]


def make_readers(n: int, run_id: str) -> list[str]:
    """``n`` new readers with a signed-in session each; their cookie headers."""
    from bench.drive import login_cookie

    User = get_user_model()
    users = User.objects.bulk_create(
        User(email=f"launch-{run_id}-{i:05d}@bench.example", name=f"Launch reader {i}")
        for i in range(n)
    )
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_update(users, ["password"])
    return [login_cookie(user) for user in users]


class Client:
    """One browser: its own keep-alive connection and cookies."""

    def __init__(self, port: int, cookie: str):
        self.port = port
        self.cookie = cookie
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: dict | None = None):
        headers = {
            "Host": "127.0.0.1",
            "Cookie": self.cookie,
            "X-Forwarded-Proto": "https",
        }
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"https://127.0.0.1{path}"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.getheader("Location", ""), response.read().decode()


def purchase(client: Client, book: Book, result: Result, lock: threading.Lock) -> None:
    amount = format_plain(book.suggested_price_cents)  # the suggested price, as the slider has it
    timings = {}

    def step(name, method, path, body=None, expect=200):
        start = time.perf_counter()
        status, location, html = client.request(method, path, body)
        timings[name] = (time.perf_counter() - start) * 1000
        if status != expect:
            raise RuntimeError(f"{name}: {method} {path} answered {status}")
        return location, html

    checkout = f"/checkout/{book.slug}/"
    _, html = step("checkout", "GET", f"{checkout}?{urlencode({'amount': amount})}")
    form = dict(HIDDEN.findall(html))
    location, _ = step(
        "place order",
        "POST",
        f"{checkout}pay/",
        {
            "csrfmiddlewaretoken": form["csrfmiddlewaretoken"],
            "checkout_token": form["checkout_token"],
            "amount": amount,
        },
        expect=302,
    )
    _, html = step("payment page", "GET", location)
    form = dict(HIDDEN.findall(html))
    step(
        "demo card",
        "POST",
        location,
        {
            "csrfmiddlewaretoken": form["csrfmiddlewaretoken"],
            "card_number": "4242 4242 4242 4242",
            "expiry": "12/34",
            "cvc": "123",
        },
        expect=302,
    )
    with lock:
        result.completed += 1
        for name, ms in timings.items():
            result.latencies[name].append(ms)


def drive(port: int, cookies: list[str], book: Book, clients: int) -> Result:
    result = Result(readers=len(cookies), clients=clients)
    work: queue.Queue[str] = queue.Queue()
    for cookie in cookies:
        work.put(cookie)
    lock = threading.Lock()

    def client_loop():
        while True:
            try:
                cookie = work.get_nowait()
            except queue.Empty:
                return
            client = Client(port, cookie)
            try:
                purchase(client, book, result, lock)
            except Exception as exc:  # a failed purchase is a finding, not a crash
                with lock:
                    result.errors.append(str(exc)[:200])
            finally:
                client.conn.close()

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - start
    return result


def wait_for_receipts(expected_keys: list[str], timeout: float = 120.0) -> int:
    """Receipts the Celery worker has sent, waiting until all are or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        sent = EmailDelivery.objects.filter(
            key__in=expected_keys, status=EmailDelivery.Status.SENT
        ).count()
        if sent == len(expected_keys) or time.monotonic() > deadline:
            return sent
        time.sleep(0.5)


def wait_for_copies(readers, book: Book, timeout: float = 600.0) -> tuple[int, int, float]:
    """The launch's stamped copies (the niced bulk worker makes them, mostly after the
    launch): (ready, expected, seconds waited until all were ready or time ran out)."""
    if not book.stamp_files:
        return 0, 0, 0.0
    formats = ReleaseFile.objects.filter(release_id=book.current_release_id).count()
    expected = readers.count() * formats
    start = time.monotonic()
    while True:
        ready = StampedFile.objects.filter(
            user__in=readers,
            release_id=book.current_release_id,
            status=StampedFile.Status.READY,
        ).count()
        waited = time.monotonic() - start
        if ready >= expected or waited > timeout:
            return ready, expected, waited
        time.sleep(1)


def check(result: Result, book: Book, run_id: str) -> None:
    readers = get_user_model().objects.filter(email__startswith=f"launch-{run_id}-")
    orders = Order.objects.filter(buyer__in=readers, book=book)
    paid = orders.filter(status=Order.Status.PAID)
    charged_twice = (
        orders.filter(status__in=[Order.Status.PAID, Order.Status.DUPLICATE])
        .values("buyer")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    receipts = [f"receipt:order-{pk}" for pk in paid.values_list("pk", flat=True)]
    queued = EmailDelivery.objects.filter(key__in=receipts).count()
    sent = wait_for_receipts(receipts)
    copies_ready, copies_expected, copies_wait = wait_for_copies(readers, book)
    audit = subprocess.run(
        [sys.executable, "manage.py", "audit_ledger"], capture_output=True, text=True, timeout=600
    )
    result.checks = {
        "paid orders": paid.count(),
        "readers with the book": Entitlement.objects.active()
        .filter(user__in=readers, book=book)
        .count(),
        "readers charged twice": charged_twice,
        "receipts queued": queued,
        "receipts sent by the Celery worker": sent,
        "stamped copies ready (bulk worker)": copies_ready,
        "stamped copies expected": copies_expected,
        "seconds after the launch until every copy was ready": round(copies_wait, 1),
        "audit_ledger": "clean"
        if audit.returncode == 0
        else f"FAILED: {(audit.stdout + audit.stderr).strip()[-300:]}",
    }


def _family(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid] + ([int(p) for p in children.read_text().split()] if children.exists() else [])


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """CPU time (user + system) a process and its live children used so far; with
    ``reaped``, also its children that exited (PostgreSQL's finished connections)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in _family(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        if reaped and p == pid:
            total += int(fields[13]) + int(fields[14])
    return total / ticks


def _postmaster_pid() -> int | None:
    """PostgreSQL's main process, when the database runs on this machine: the parent
    of this connection's server process."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    try:
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None  # on another machine


def _pids() -> dict[str, int]:
    """The processes whose CPU the launch reports (bench/run exports their pids)."""
    names = {
        "launch gunicorn": "BENCH_LAUNCH_GUNICORN_PID",
        "Celery (receipts)": "BENCH_CELERY_PID",
        "Celery (bulk, niced)": "BENCH_BULK_PID",
    }
    pids = {name: int(os.environ[var]) for name, var in names.items() if os.environ.get(var)}
    postmaster = _postmaster_pid()
    if postmaster:
        pids[POSTGRES] = postmaster
    pids[DRIVER] = os.getpid()
    return pids


def machine_ticks() -> tuple[int, int]:
    """(busy, all) CPU ticks of the whole machine since boot, from /proc/stat: busy is
    every process and the kernel (Redis, loopback networking); not busy are idle, I/O
    wait and steal (a virtual machine's CPU given to another guest)."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    busy = user + nice + system + irq + softirq
    return busy, busy + idle + iowait + steal


def cpu_budget(busy_ticks: int, all_ticks: int, completed: int) -> dict:
    """What the launch cost the whole machine, and what that cost allows: the busy
    share of its cores, the CPU per purchase, and the purchases per second the cores
    would complete at that cost if they were never idle (the CPU's bound)."""
    cores = os.cpu_count() or 1
    ticks = os.sysconf("SC_CLK_TCK")
    per_purchase_ms = busy_ticks * 1000 / ticks / completed
    return {
        "cores": cores,
        "busy_share": round(busy_ticks / all_ticks, 3) if all_ticks else 0.0,
        "cpu_ms_per_purchase": round(per_purchase_ms, 1),
        "cpu_bound_purchases_per_second": round(cores * 1000 / per_purchase_ms, 1),
        "target_needs_cpu_ms_per_purchase": round(cores * 1000 / TARGET_RPS, 1),
    }


POSTGRES = "PostgreSQL (every process)"
DRIVER = "load driver (this process)"


def _cpu(name: str, pid: int) -> float:
    return cpu_seconds(pid, reaped=name == POSTGRES)


def peak_rss_mb(pid: int) -> float | None:
    """The peak resident memory (VmHWM) of a process and its children, in MiB."""
    peak = 0
    for p in _family(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024 if peak else None


def targets(result: Result) -> list[tuple[str, str, bool]]:
    c = result.checks
    out = [
        (
            f"launch: ≥ {TARGET_RPS:.0f} completed purchases/s",
            f"{result.purchases_per_second:.1f}",
            result.purchases_per_second >= TARGET_RPS,
        )
    ]
    for step in STEPS:
        p99 = result.percentile(step, 0.99)
        out.append(
            (f"launch, {step}: p99 < {TARGET_P99_MS:.0f} ms", f"{p99:.0f} ms", p99 < TARGET_P99_MS)
        )
    out += [
        ("launch: no errors", str(len(result.errors)), not result.errors),
        (
            "launch: every reader paid once and has the book",
            f"{c.get('paid orders')} paid / {c.get('readers with the book')} owners / {result.readers} readers",
            c.get("paid orders") == c.get("readers with the book") == result.readers,
        ),
        ("launch: no reader charged twice", str(c.get("readers charged twice")), c.get("readers charged twice") == 0),
        (
            "launch: one receipt queued per purchase",
            f"{c.get('receipts queued')} / {c.get('paid orders')}",
            c.get("receipts queued") == c.get("paid orders"),
        ),
        (
            "launch: every new owner's stamped copies made afterwards",
            f"{c.get('stamped copies ready (bulk worker)')} / {c.get('stamped copies expected')}"
            f" in {c.get('seconds after the launch until every copy was ready')} s",
            c.get("stamped copies ready (bulk worker)") == c.get("stamped copies expected"),
        ),
        ("launch: audit_ledger clean afterwards", str(c.get("audit_ledger")), c.get("audit_ledger") == "clean"),
    ]  # fmt: skip
    return out


def run() -> Result:
    port = int(os.environ["BENCH_LAUNCH_PORT"])
    book = Book.objects.get(slug=BOOK)
    run_id = uuid.uuid4().hex[:8]
    print(f"== launch: {READERS} readers, {CLIENTS} clients, port {port}", flush=True)
    start = time.perf_counter()
    cookies = make_readers(READERS, run_id)
    print(f"  readers and sessions made in {time.perf_counter() - start:.1f} s", flush=True)
    pids = _pids()
    before = {name: _cpu(name, pid) for name, pid in pids.items()}
    busy_before, all_before = machine_ticks()
    result = drive(port, cookies, book, CLIENTS)
    busy_after, all_after = machine_ticks()
    if result.completed:  # where the machine's CPU went during the launch, per purchase
        result.cpu_ms_per_purchase = {
            name: round((_cpu(name, pid) - before[name]) * 1000 / result.completed, 1)
            for name, pid in pids.items()
        }
        result.machine = cpu_budget(
            busy_after - busy_before, all_after - all_before, result.completed
        )
    check(result, book, run_id)
    celery = os.environ.get("BENCH_CELERY_PID")
    result.celery_peak_rss_mb = peak_rss_mb(int(celery)) if celery else None
    bulk = os.environ.get("BENCH_BULK_PID")
    result.bulk_peak_rss_mb = peak_rss_mb(int(bulk)) if bulk else None
    print(
        f"  {result.completed} purchases in {result.seconds:.1f} s = "
        f"{result.purchases_per_second:.1f}/s, errors {len(result.errors)}",
        flush=True,
    )
    for step in STEPS:
        print(
            f"  {step:<13} p50 {result.percentile(step, 0.5):6.1f} ms  "
            f"p99 {result.percentile(step, 0.99):6.1f} ms",
            flush=True,
        )
    for name, ms in result.cpu_ms_per_purchase.items():
        print(f"  CPU of the {name} during the launch: {ms} ms per purchase", flush=True)
    if result.machine:
        m = result.machine
        print(
            f"  the whole machine: {m['busy_share']:.0%} of {m['cores']} cores busy, "
            f"{m['cpu_ms_per_purchase']} ms of CPU per purchase; at that cost its cores "
            f"complete at most {m['cpu_bound_purchases_per_second']}/s "
            f"({TARGET_RPS:.0f}/s needs {m['target_needs_cpu_ms_per_purchase']} ms)",
            flush=True,
        )
    for name, value in result.checks.items():
        print(f"  {name}: {value}", flush=True)
    for error in result.errors[:5]:
        print(f"  error: {error}", flush=True)
    return result


def as_json(result: Result) -> dict:
    return {
        "readers": result.readers,
        "clients": result.clients,
        "seconds": round(result.seconds, 2),
        "completed": result.completed,
        "purchases_per_second": round(result.purchases_per_second, 1),
        "errors": result.errors[:20],
        "error_count": len(result.errors),
        "steps": {
            step: {
                "p50_ms": round(result.percentile(step, 0.5), 1),
                "p99_ms": round(result.percentile(step, 0.99), 1),
            }
            for step in STEPS
        },
        "checks": result.checks,
        "celery_peak_rss_mb": result.celery_peak_rss_mb,
        "bulk_peak_rss_mb": result.bulk_peak_rss_mb,
        "cpu_ms_per_purchase": result.cpu_ms_per_purchase,
        "machine": result.machine,
        "gateway": "demo card, through the launch gunicorn",
        "book": BOOK,
    }


if __name__ == "__main__":
    print(json.dumps(as_json(run()), indent=2))
