"""The measuring half of bench/run, against the gunicorn it started.

1. Logs two users in through Django's session engine (the 500-book reader and
   the bench author) and finds the download URL.
2. Counts each page's queries once with Django's test Client and
   CaptureQueriesContext on the bench database, and runs EXPLAIN (ANALYZE,
   BUFFERS) on each page's slowest SELECTs (results/explain.md).
3. Drives each page with wrk (warm-up, then the measured run); the webhook
   with bench/webhook_load.py.
4. Writes results/latest.md and prints the table.

Run by bench/run with the gunicorn's environment; BENCH_PORT names its port.
"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_floor")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import (  # noqa: E402
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
)
from django.db import connection  # noqa: E402
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils.crypto import get_random_string  # noqa: E402
from django.utils.module_loading import import_string  # noqa: E402

from api import keys, sales  # noqa: E402
from bench import report, webhook_load  # noqa: E402
from bench.seed import BENCH_AUTHOR_EMAIL, HEAVY_READER_EMAIL  # noqa: E402
from library.models import Entitlement  # noqa: E402
from payments import earnings  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
RUN_DIR = Path(os.environ.get("BENCH_RUN_DIR", RESULTS / "run"))
LUA = BENCH_DIR / "wrk" / "report.lua"
DEMO_BOOK = "behindthestack-netflix-architecture"
# A proxy terminates TLS in production and says so; HTTPS_ONLY=true trusts it.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
QUIET = 0.15  # the CPU share others may use for a run to count as on an idle machine
EXPLAIN_MIN_MS = 5.0
TRANSACTION_SQL = {
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
}  # EXPLAIN the SELECTs at least this slow (the 3 slowest per page)


@dataclass
class Page:
    key: str
    label: str
    path: str
    user: object = None  # logged in as this user, through a session cookie
    method: str = "GET"
    connections: int = 0  # 0: the run's default
    duration: str = ""  # "": the run's default
    cache_miss: bool = False  # a new query string on every request (defeats a page cache)
    cookie: str = ""
    headers: dict = field(default_factory=dict)  # sent with every request (an API key)
    queries: int | None = None
    first_queries: int | None = None  # on the very first request (a cold cache)
    query_ms: float = 0.0
    status: int | None = None
    slow: list = field(default_factory=list)
    result: dict | None = None
    busy_before: float = 0.0  # the CPU others used just before this page's load
    rss_after: list = field(default_factory=list)  # MiB of each product worker after the load
    server: str = "product"  # or "bare": the bare floor's gunicorn (bench/bare/)
    bare_near: float | None = None  # the bare floor's rps just before and after this page


def login_cookie(user) -> str:
    """The cookies of a browser logged in as ``user``: a session made by the session
    engine, as a login would make it, and the CSRF cookie."""
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    store[SESSION_KEY] = user._meta.pk.value_to_string(user)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    # A browser that has seen any page with a form also holds the CSRF cookie;
    # without it every response would mint and set a new one.
    csrf = get_random_string(CSRF_SECRET_LENGTH, allowed_chars=CSRF_ALLOWED_CHARS)
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}; {settings.CSRF_COOKIE_NAME}={csrf}"


def build_pages() -> list[Page]:
    User = get_user_model()
    reader = User.objects.get(email=HEAVY_READER_EMAIL)
    author = User.objects.get(email=BENCH_AUTHOR_EMAIL)
    owned = (
        Entitlement.objects.active()
        .filter(user=reader, book__current_release__isnull=False)
        .select_related("book")
        .order_by("book_id")
        .first()
    )
    download = reverse(
        "library:download", args=[owned.book.slug, owned.book.current_release_id, "pdf"]
    )
    # A reader with a history (orders, credits) who does not own the demo book yet:
    # the checkout page, not "you own this book already".
    buyer = (
        User.objects.filter(email__endswith="@bench.example", orders__isnull=False)
        .exclude(entitlements__book__slug=DEMO_BOOK)
        .order_by("pk")
        .first()
    )
    pages = [
        Page("floor", "product floor (bench/floor_urls.py)", "/bench/floor/"),
        Page("floor-bare", "bare floor (bench/bare/)", "/bench/floor/", server="bare"),
        Page("home", "home", "/"),
        Page("search", "catalog search + filters", "/books/?q=django&category=python&sort=bestselling"),
        Page("search-miss", "same search, page-cache miss", "/books/?q=django&category=python&sort=bestselling", cache_miss=True),
        Page("book", "book page, anonymous", f"/books/{DEMO_BOOK}/"),
        Page("book-user", "book page, logged in", f"/books/{DEMO_BOOK}/", user=reader),
        Page("checkout", "checkout page, signed in", f"/checkout/{DEMO_BOOK}/?amount=19.50", user=buyer),
        Page("orders", "orders, signed in", "/orders/", user=reader),
        Page("credits", "credits, signed in", "/credits/", user=reader),
        Page("account", "account page, signed in", "/account/", user=reader),
        Page("library", "library (500 books)", "/library/", user=reader),
        # A dashboard, not a storefront page: a few authors at once, for long enough
        # to collect more than a handful of multi-second requests.
        Page("earnings", "earnings, range=all", "/author/earnings/?range=all", user=author, connections=4, duration="20s"),
        Page("download", "download (x-accel)", download, user=reader),
        Page("webhook", "stripe webhook (POST)", "/webhooks/stripe/", method="POST", connections=50),
        api_sales_page(author),
    ]  # fmt: skip
    for page in pages:
        if page.user is not None:
            page.cookie = login_cookie(page.user)
    return pages


def api_sales_page(author) -> Page:
    """GET /api/v1/sales of the bench author with an API key, at a cursor 10,000 rows
    (200 pages) deep: keyset pagination must cost the same there as on page one."""
    profile = author.author_profile
    _key, token = keys.create_key(user=author, name="bench", scopes=["read_sales"])
    middle = earnings.sales_rows(profile, earnings.date_range("all"))[10_000]
    cursor = sales.encode_cursor(middle.created_at, middle.pk)
    return Page(
        "api-sales",
        "API sales, cursor page 201",
        f"/api/v1/sales?limit=50&cursor={cursor}",
        headers={"Authorization": f"Bearer {token}"},
        # One key may make RATE_LIMIT_API calls a minute: a few authors' tools at
        # once, like the earnings dashboard, not a storefront crowd.
        connections=4,
        duration="20s",
    )


def _request(client: Client, page: Page, n: int):
    if page.method != "POST":
        sep = "&" if "?" in page.path else "?"
        return client.get(page.path + (f"{sep}_bench=count-{n}" if page.cache_miss else ""))
    body = webhook_load.event(n, f"count{int(time.time())}_")
    signature = webhook_load.sign(settings.STRIPE_WEBHOOK_SECRET, body)
    return client.post(
        page.path,
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": signature},
    )


def _timed(durations: list[float], execute, sql, params, many, context):
    start = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        durations.append((time.perf_counter() - start) * 1000)


def count_bare_queries(page: Page):
    """The bare floor's count, in a process of its own (its settings are not ours)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.bare.settings"}
    output = subprocess.run(
        [sys.executable, "-m", "bench.bare.queries"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    ).stdout
    data = json.loads(output.strip().splitlines()[-1])
    page.status, page.first_queries = data["status"], data["first"]
    page.queries, page.query_ms = data["queries"], data["ms"]


def count_queries(pages: list[Page]):
    """One request per page through the test Client (after one to warm up)."""
    for page in pages:
        if page.server == "bare":
            count_bare_queries(page)
            print(
                f"  {page.key:<10} {page.status} {page.queries:>3} queries {page.query_ms:>8.1f} ms",
                flush=True,
            )
            continue
        client = Client(headers={"host": "127.0.0.1", **PROXY_HEADERS, **page.headers})
        for cookie in filter(None, page.cookie.split("; ")):
            name, _, value = cookie.partition("=")
            client.cookies[name] = value
        with CaptureQueriesContext(connection) as first:
            _request(client, page, 1)
        page.first_queries = len(first.captured_queries)
        durations: list[float] = []  # CaptureQueriesContext keeps whole milliseconds only
        with (
            CaptureQueriesContext(connection) as captured,
            connection.execute_wrapper(partial(_timed, durations)),
        ):
            response = _request(client, page, 2)
        page.status = response.status_code
        page.queries = len(captured.captured_queries)
        # BEGIN/COMMIT are logged (and counted: they are round trips) without
        # passing through execute wrappers; every other entry has its duration.
        measured = iter(durations)
        timed = [
            (
                float(q["time"]) * 1000 if q["sql"] in TRANSACTION_SQL else next(measured),
                q["sql"],
            )
            for q in captured.captured_queries
        ]
        page.query_ms = round(sum(ms for ms, _ in timed), 1)
        selects = sorted(
            (q for q in timed if q[1].lstrip().upper().startswith("SELECT")), reverse=True
        )
        page.slow = [q for q in selects[:3] if q[0] >= EXPLAIN_MIN_MS]
        print(
            f"  {page.key:<10} {page.status} {page.queries:>3} queries {page.query_ms:>8.1f} ms",
            flush=True,
        )


def explain(pages: list[Page]) -> str:
    lines = [
        "# EXPLAIN ANALYZE of the slowest queries",
        "",
        "Written by bench/run (bench/drive.py): for each page, the SELECTs that took at least "
        f"{EXPLAIN_MIN_MS:g} ms during the query count (the 3 slowest), run again under "
        "`EXPLAIN (ANALYZE, BUFFERS)` on the bench database.",
        "",
    ]
    with connection.cursor() as cursor:
        for page in pages:
            for ms, sql in page.slow:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
                lines += [
                    f"## {page.label}: {ms:.1f} ms",
                    "",
                    "```sql",
                    sql,
                    "```",
                    "",
                    "```",
                    plan,
                    "```",
                    "",
                ]
    return "\n".join(lines)


def run_wrk(page: Page, base: str, duration: str, threads: int, connections: int) -> dict:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", "--latency"]
    lua = LUA.with_name("cache_miss.lua") if page.cache_miss else LUA
    command += ["-s", str(lua), "--timeout", "30s"]
    for name, value in PROXY_HEADERS.items():
        command += ["-H", f"{name}: {value}"]
    if page.cookie:
        command += ["-H", f"Cookie: {page.cookie}"]
    for name, value in page.headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, base + page.path], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"^BENCH_JSON (.*)$", output, re.MULTILINE)
    if not match:
        raise SystemExit(f"wrk printed no result for {page.key}:\n{output}")
    return {**json.loads(match.group(1)), "raw": output}


NEAR_DURATION = os.environ.get("BENCH_NEAR_DURATION", "5s")
FLOOR_KEYS = ("floor", "floor-bare")


def _threads() -> int:
    return int(os.environ.get("BENCH_THREADS", "2"))


def _connections() -> int:
    return int(os.environ.get("BENCH_CONNECTIONS", "16"))


def bare_floor_now(pages: list[Page], base: str) -> float | None:
    """The bare floor's req/s now, a short load of it (its workers are warm); None when
    the run has not loaded the bare floor."""
    bare = next((p for p in pages if p.key == "floor-bare" and p.result), None)
    if bare is None:
        return None
    result = run_wrk(bare, base, NEAR_DURATION, _threads(), _connections())
    return result["requests"] / (result["duration_us"] / 1e6) if result["duration_us"] else 0.0


def drive(pages: list[Page], bases: dict[str, str]):
    default_duration = os.environ.get("BENCH_DURATION", "10s")
    warmup = os.environ.get("BENCH_WARMUP", "3s")
    default_connections = _connections()
    threads = _threads()
    logs = RUN_DIR / "wrk"
    logs.mkdir(parents=True, exist_ok=True)
    for page in pages:
        wait_idle(bases["product"])
        wait_idle(bases["bare"])
        page.busy_before = wait_quiet()
        # This machine's speed drifts by a third within a run: each page's ratio is to
        # the bare floor measured just before and just after it (bench/README.md).
        before = None if page.key in FLOOR_KEYS else bare_floor_now(pages, bases["bare"])
        base = bases[page.server]
        connections = page.connections or default_connections
        duration = page.duration or default_duration
        if page.method == "POST":
            url, secret, nonce = base + page.path, settings.STRIPE_WEBHOOK_SECRET, int(time.time())
            webhook_load.run(url, secret, connections=connections, duration=_seconds(warmup), prefix=f"w{nonce}_")  # fmt: skip
            page.result = webhook_load.run(url, secret, connections=connections, duration=_seconds(duration), prefix=f"m{nonce}_")  # fmt: skip
            page.result["tool"] = f"bench/webhook_load.py -c{connections} -d{duration}"
        else:
            run_wrk(page, base, warmup, threads, connections)
            page.result = run_wrk(page, base, duration, threads, connections)
            (logs / f"{page.key}.txt").write_text(page.result.pop("raw"))
            page.result["tool"] = f"wrk -t{threads} -c{connections} -d{duration}" + (
                " -s cache_miss.lua" if page.cache_miss else ""
            )
        page.rss_after = worker_rss_mb()
        if before is not None:
            wait_idle(bases["product"])
            page.bare_near = (before + bare_floor_now(pages, bases["bare"])) / 2
        r = page.result
        rps = r["requests"] / (r["duration_us"] / 1e6)
        note = f"  (CPU {page.busy_before:.0%} busy before)" if page.busy_before > QUIET else ""
        print(
            f"  {page.key:<10} {rps:8.1f} rps  p50 {r['latency_us']['p50'] / 1000:7.1f} ms  "
            f"p99 {r['latency_us']['p99'] / 1000:7.1f} ms  non-2xx {r['non2xx']}{note}",
            flush=True,
        )


def worker_rss_mb() -> list[float]:
    """Resident memory of each of the product gunicorn's workers (BENCH_GUNICORN_PID), MiB."""
    master = os.environ.get("BENCH_GUNICORN_PID")
    if not master:
        return []
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return []
    sizes = []
    for pid in children:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        rss = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), None)  # fmt: skip
        if rss:
            sizes.append(int(rss) / 1024)
    return sorted(sizes)


def wait_idle(base: str, limit: float = 180.0):
    """Wait until the workers are free again: a slow page's queued requests go on
    being served after wrk has hung up, and must not land on the next page."""
    start = time.perf_counter()
    fast = 0
    while fast < 3 and time.perf_counter() - start < limit:
        t0 = time.perf_counter()
        url = base + "/bench/floor/"  # loopback http, built here
        request = urllib.request.Request(url, headers=PROXY_HEADERS)  # noqa: S310
        with urllib.request.urlopen(request, timeout=limit) as response:  # noqa: S310
            response.read()
        fast = fast + 1 if time.perf_counter() - t0 < 0.05 else 0
    waited = time.perf_counter() - start
    if waited > 1:
        print(f"  (waited {waited:.1f} s for the workers to finish queued requests)", flush=True)


def cpu_busy(seconds: float = 2.0) -> float:
    """Share of the machine's CPU time that was not idle over ``seconds``."""

    def sample():
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(values), values[3] + values[4]  # idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


_quiet_budget = [float(os.environ.get("BENCH_QUIET_BUDGET", "240"))]


def wait_quiet() -> float:
    """Wait until nothing else uses the CPU (up to 60 s per page and BENCH_QUIET_BUDGET
    seconds per run); return the last measurement. Our gunicorn is idle here, so
    what it measures is other processes' load."""
    start = time.perf_counter()
    limit = min(60.0, _quiet_budget[0])
    busy = cpu_busy(1.0)
    while busy > QUIET and time.perf_counter() - start < limit:
        busy = cpu_busy(1.0)
    waited = time.perf_counter() - start
    _quiet_budget[0] = max(0.0, _quiet_budget[0] - max(0.0, waited - 1.0))
    if waited > 1.5:
        print(f"  (waited {waited:.0f} s for a quiet CPU: {busy:.0%} busy)", flush=True)
    return busy


def _seconds(text: str) -> float:
    units = {"s": 1, "m": 60}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def main():
    bases = {
        "product": f"http://127.0.0.1:{os.environ['BENCH_PORT']}",
        "bare": f"http://127.0.0.1:{os.environ['BENCH_BARE_PORT']}",
    }
    wanted = [k for k in os.environ.get("BENCH_PAGES", "").split(",") if k]
    pages = build_pages()
    if wanted:
        unknown = set(wanted) - {p.key for p in pages}
        unknown -= {"launch", "middleware", "stamp"}
        if unknown:
            raise SystemExit(f"unknown page(s) {sorted(unknown)}; pages: {[p.key for p in pages]}")
        pages = [p for p in pages if p.key in wanted or p.key in {"floor", "floor-bare"}]
        if not set(wanted) - {"launch", "middleware", "stamp"}:
            pages = []
    print("== query counts (Django test Client, CaptureQueriesContext)", flush=True)
    count_queries(pages)
    (RUN_DIR / "explain.md").write_text(explain(pages))
    print(f"== load (product {bases['product']}, bare floor {bases['bare']})", flush=True)
    drive(pages, bases)
    wait_idle(bases["product"])
    cpu_after = cpu_busy()
    middleware = None
    if not wanted or "middleware" in wanted:
        from bench import middleware_cost

        print("== the middleware stack's cost (in-process)", flush=True)
        middleware = middleware_cost.main()
        print(middleware, flush=True)
    launch_result = None
    if os.environ.get("BENCH_LAUNCH_PORT") and (not wanted or "launch" in wanted):
        from bench import launch

        wait_quiet()
        near = bare_floor_now(pages, bases["bare"])
        if near is not None:
            wait_quiet()
        result = launch.run()
        launch_result = {
            **launch.as_json(result),
            "targets": launch.targets(result),
            "bare_floor_rps": near or report._floor(pages, "floor-bare") or None,
        }
        (RUN_DIR / "launch.json").write_text(json.dumps(launch_result, indent=2, default=str))
    stamp_result = None
    if not wanted or "stamp" in wanted:
        from bench import stamp

        wait_quiet()
        print("== buyer-stamped files (bench/stamp.py, its own database)", flush=True)
        stamp_result = stamp.run_section(
            RUN_DIR / "stamp.json", owners=int(os.environ.get("BENCH_STAMP_OWNERS", "0")) or None
        )
    text = report.render(
        pages,
        run_dir=RUN_DIR,
        cpu_busy_after=cpu_after,
        quiet=QUIET,
        launch=launch_result,
        middleware=middleware,
        stamp=stamp_result,
    )
    (RUN_DIR / "latest.md").write_text(text)
    if not wanted:  # a partial run does not replace the published results
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "latest.md").write_text(text)
        (RESULTS / "explain.md").write_text((RUN_DIR / "explain.md").read_text())
    print()
    print(report.table(pages))
    print()
    print(report.floors_text(pages))
    print()
    print(report.memory_text(pages))
    print()
    print(
        report.targets_text(pages, extra=report.extra_targets(pages, launch_result, stamp_result))
    )
    print(
        f"\nwritten: {RUN_DIR / 'latest.md'}" + ("" if wanted else f" and {RESULTS / 'latest.md'}")
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
