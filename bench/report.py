"""The results table, the targets and the run's context, as Markdown."""

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import django
from django.db import connection

from bench import stamp as stamp_section

# (page key, what, limit): the targets of bench/README.md.
# Issue 19's targets: ratios of req/s to the bare floor measured in the same run
# (bench/bare/), latency bounds, and no errors. The launch's own targets are in
# bench/launch.py (launch_targets).
TARGETS = [
    ("home", "ratio", 1.0),
    ("book", "ratio", 1.0),
    ("search", "ratio", 1.0),
    ("search-miss", "ratio", 0.3),
    ("book-user", "ratio", 0.5),
    ("checkout", "ratio", 0.3),
    ("orders", "ratio", 0.3),
    ("credits", "ratio", 0.3),
    ("account", "ratio", 0.3),
    ("library", "ratio", 0.6),
    ("download", "ratio", 0.5),
    ("earnings", "p99_ms", 200),
    ("api-sales", "p99_ms", 100),
    ("webhook", "p99_ms", 1000),
    ("webhook", "errors", 0),
]


def _rps(page) -> float:
    r = page.result
    return r["requests"] / (r["duration_us"] / 1e6) if r and r["duration_us"] else 0.0


def _errors(page) -> int:
    return sum(page.result["errors"].values()) if page.result else 0


# The two floors (bench/README.md): the product's own settings and middleware, and
# plain Django (bench/bare/). Targets are evaluated against each, labelled.
FLOORS = {"floor": "product floor", "floor-bare": "bare floor"}


def _floor(pages, key: str = "floor") -> float:
    return next((_rps(p) for p in pages if p.key == key), 0.0)


def _bare_for(page, pages) -> float:
    """The bare floor a page is compared with: the mean of its loads just before and just
    after the page when the run made them (bench/drive.py), else the run's first one."""
    return page.bare_near or _floor(pages, "floor-bare")


def _ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}" if floor else "-"


def floors_text(pages) -> str:
    """Both floors and their ratio: what the product's middleware stack, settings and
    URLconf cost a page that does almost nothing."""
    product, bare = _floor(pages, "floor"), _floor(pages, "floor-bare")
    return (
        f"**Floors:** bare floor {bare:.1f} rps, product floor {product:.1f} rps; "
        f"product floor ÷ bare floor = **{_ratio(product, bare)}** (the cost of the product's "
        "middleware stack, settings and URLconf on the same view, query and template)."
    )


def _queries(page) -> str:
    if page.first_queries is not None and page.first_queries != page.queries:
        return f"{page.queries} (first: {page.first_queries})"
    return str(page.queries)


def table(pages) -> str:
    floor = _floor(pages, "floor")
    rows = [
        "| page | path | rps | requests | p50 ms | p99 ms | non-2xx / errors | × product floor | bare floor around it (rps) | × bare floor | queries | DB ms (1 req) |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for p in pages:
        r = p.result
        if r is None:
            continue
        lat = r["latency_us"]
        path = p.path if len(p.path) < 48 else p.path[:45] + "..."
        bare = _bare_for(p, pages)
        rows.append(
            f"| {p.label} | `{p.method} {path}` | {_rps(p):.1f} | {r['requests']} | {lat['p50'] / 1000:.1f} | "
            f"{lat['p99'] / 1000:.1f} | {r['non2xx']} / {_errors(p)} | {_ratio(_rps(p), floor)} | "
            f"{bare:.1f} | {_ratio(_rps(p), bare)} | "
            f"{_queries(p)} | {p.query_ms:.1f} |"
        )
    return "\n".join(rows)


def targets(pages, floor_key: str = "floor-bare") -> list[tuple[str, str, bool]]:
    by_key = {p.key: p for p in pages if p.result}
    out = []
    for key, what, limit in TARGETS:
        page = by_key.get(key)
        if page is None:
            continue
        if what == "ratio":
            floor = (
                _bare_for(page, pages) if floor_key == "floor-bare" else _floor(pages, floor_key)
            )
            value = _rps(page) / floor if floor else 0
            out.append(
                (
                    f"{page.label}: ≥ {limit} × {FLOORS[floor_key]} rps",
                    f"{value:.2f}",
                    value >= limit,
                )
            )
        elif what == "p99_ms":
            value = page.result["latency_us"]["p99"] / 1000
            out.append((f"{page.label}: p99 < {limit} ms", f"{value:.0f} ms", value < limit))
        else:
            bad = page.result["non2xx"] + _errors(page)
            out.append((f"{page.label}: no errors", f"{bad}", bad == 0))
    bad = sum(p.result["non2xx"] for p in by_key.values())
    out.append(("every page: zero non-2xx", str(bad), bad == 0))
    return out


def targets_text(pages, floor_key: str = "floor-bare", extra=()) -> str:
    lines = ["| target | measured | |", "|---|--:|---|"]
    lines += [
        f"| {name} | {value} | {'PASS' if ok else '**FAIL**'} |"
        for name, value, ok in [*targets(pages, floor_key), *extra]
    ]
    return "\n".join(lines)


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> list[tuple[str, str]]:
    meminfo = Path("/proc/meminfo").read_text()
    mem_kb = int(
        next(line.split()[1] for line in meminfo.splitlines() if line.startswith("MemTotal"))
    )
    cpuinfo = Path("/proc/cpuinfo").read_text()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
    wrk = _run(["wrk", "-v"]).splitlines()
    return [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("source", os.environ.get("BENCH_SOURCE", "?")),
        ("nproc", str(os.cpu_count())),
        ("CPU", cpu),
        ("memory", f"{mem_kb / 1024 / 1024:.1f} GiB"),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("Django", django.get_version()),
        ("PostgreSQL", f"{pg} (shared_buffers {shared_buffers}, server defaults)"),
        ("psycopg", version("psycopg")),
        ("gunicorn", version("gunicorn")),
        ("wrk", wrk[0].split(" [")[0] if wrk else "?"),
    ]


def _seeding(run_dir: Path) -> list[str]:
    lines = []
    phases = run_dir / "phases.tsv"
    if phases.exists():
        rows = [line.split("\t") for line in phases.read_text().splitlines() if line]
        seed_phases = [(n, float(s)) for n, s in rows if n.startswith("seed:")]
        if seed_phases:
            total = sum(s for _, s in seed_phases)
            lines.append(
                f"**Seeding: {total:.0f} s** ("
                + ", ".join(f"{n[5:]} {s:.0f} s" for n, s in seed_phases)
                + ")."
            )
        else:
            lines.append("Seeding: none in this run (`--reuse-db`).")
    seed = run_dir / "seed.json"
    if seed.exists():
        data = json.loads(seed.read_text())
        rows, author, t = data["rows"], data["bench_author"], data["timings"]
        lines.append(
            f"bench/seed.py (seed {data['seed']}): {sum(rows.values()):,} rows in "
            f"{t['total_s']} s (COPY incl. generation {t['copy_s']} s, indexes and "
            f"constraints {t['constraints_s']} s): "
            + ", ".join(f"{table} {n:,}" for table, n in rows.items())
            + "."
        )
        lines.append(
            f"Bench author ({author['email']}): {author['books']} books, "
            f"{author['orders_of_their_books']:,} orders of their books, "
            f"{author['ledger_entries_on_their_books']:,} ledger entries on their books, "
            f"{author['own_ledger_entries']:,} of them their own "
            f"({author['own_share_of_all_entries']:.1%} of all {author['ledger_entries_total']:,} "
            "entries)."
        )
    return lines


# A worker may grow this much from one load to the next once the first loads have
# warmed it (imports, template and URL caches, connection): more is a leak to find.
RSS_GROWTH_BOUND_MB = 8.0
RSS_WARM_LOADS = 3


def rss_growth(pages) -> float | None:
    """The largest growth of the biggest worker's RSS from one load to the next, after warming."""
    series = [max(p.rss_after) for p in pages if p.rss_after]
    steps = [
        b - a for a, b in zip(series[RSS_WARM_LOADS:], series[RSS_WARM_LOADS + 1 :], strict=False)
    ]
    return max(steps) if steps else None


def memory_text(pages, launch=None) -> str:
    lines = [
        "| after the load of | worker RSS, MiB (each product gunicorn worker) |",
        "|---|---|",
    ]
    lines += [
        f"| {p.key} | {', '.join(f'{mb:.0f}' for mb in p.rss_after)} |"
        for p in pages
        if p.rss_after
    ]
    growth = rss_growth(pages)
    lines.append("")
    if growth is not None:
        lines.append(
            f"Largest growth of the biggest worker from one load to the next (after the first "
            f"{RSS_WARM_LOADS} loads): **{growth:+.1f} MiB** (bound: {RSS_GROWTH_BOUND_MB:g} MiB)."
        )
    if launch and launch.get("celery_peak_rss_mb"):
        lines.append(
            f"Celery worker's peak RSS during the launch: **{launch['celery_peak_rss_mb']:.0f} MiB**"
            + (
                f" (receipts); the bulk worker's, stamping the copies: "
                f"**{launch['bulk_peak_rss_mb']:.0f} MiB**."
                if launch.get("bulk_peak_rss_mb")
                else "."
            )
        )
    return "\n".join(lines)


def extra_targets(pages, launch, stamp=None) -> list[tuple[str, str, bool]]:
    out = list(launch["targets"]) if launch else []
    out += [tuple(target) for target in stamp["targets"]] if stamp else []
    growth = rss_growth(pages)
    if growth is not None:
        out.append(
            (
                f"memory: worker RSS growth between loads ≤ {RSS_GROWTH_BOUND_MB:g} MiB",
                f"{growth:+.1f} MiB",
                growth <= RSS_GROWTH_BOUND_MB,
            )
        )
    return out


# Issue #19's table: the anonymous book page served 2,802 req/s at 1.03 × the bare floor.
ISSUE_BARE_FLOOR_RPS = 2720


def launch_text(launch) -> str:
    if not launch:
        return "No launch in this run."
    steps = launch["steps"]
    lines = [
        f"{launch['readers']:,} new signed-in readers bought `{launch.get('book', 'the demo book')}` through the HTML forms "
        f"(gateway: {launch['gateway']}) from {launch['clients']} concurrent clients: "
        f"**{launch['completed']:,} purchases in {launch['seconds']} s = {launch['purchases_per_second']} per second**, "
        f"{launch['error_count']} errors.",
        "",
        "| step | p50 ms | p99 ms |",
        "|---|--:|--:|",
        *(f"| {name} | {v['p50_ms']} | {v['p99_ms']} |" for name, v in steps.items()),
        "",
        "Afterwards: " + "; ".join(f"{k}: {v}" for k, v in launch["checks"].items()) + ".",
    ]
    cpu = launch.get("cpu_ms_per_purchase")
    if cpu:
        lines += [
            "",
            "CPU per purchase during the launch (ms; Redis and the machine's other "
            "processes not counted): "
            + "; ".join(f"{name} {ms}" for name, ms in cpu.items())
            + ".",
        ]
    machine = launch.get("machine")
    if machine:
        lines += [
            "",
            f"The whole machine (every process and the kernel, from /proc/stat): "
            f"{machine['busy_share']:.0%} of its {machine['cores']} cores busy during the launch, "
            f"**{machine['cpu_ms_per_purchase']} ms of CPU per purchase**. At that cost the cores, "
            f"never idle, would complete at most **{machine['cpu_bound_purchases_per_second']} "
            f"purchases/s**; 100/s on {machine['cores']} cores needs at most "
            f"{machine['target_needs_cpu_ms_per_purchase']} ms per purchase.",
        ]
    bare = launch.get("bare_floor_rps")
    if bare:
        lines += [
            "",
            f"Scaled to this machine: {launch['purchases_per_second']} purchases/s with a bare floor of "
            f"{bare:,.0f} req/s (measured just before the launch) is **{launch['purchases_per_second'] * 1000 / bare:.1f} purchases/s per "
            f"1,000 bare-floor req/s**. Issue #19's 100/s was set on a machine whose bare floor "
            f"served about {ISSUE_BARE_FLOOR_RPS:,} req/s: "
            f"{100 * 1000 / ISSUE_BARE_FLOOR_RPS:.1f} per 1,000 (for reading only; the target "
            "above stays absolute).",
        ]
    return "\n".join(lines)


def render(
    pages,
    *,
    run_dir: Path,
    cpu_busy_after: float,
    quiet: float,
    launch=None,
    middleware=None,
    stamp=None,
) -> str:
    env = os.environ
    load = Path("/proc/loadavg").read_text().split()[:3]
    busy = [p for p in pages if p.result and p.busy_before > quiet]
    warning = []
    if busy or cpu_busy_after > quiet:
        where = ", ".join(f"{p.key} {p.busy_before:.0%}" for p in busy) or "none"
        warning = [
            "> **Warning: the machine was not idle.** CPU used by other processes just "
            f"before a page's load: {where}; after the last load: {cpu_busy_after:.0%}. "
            "Those figures are lower than this machine can do.",
            "",
        ]
    slow = sorted(((ms, p.label, sql) for p in pages for ms, sql in p.slow), reverse=True)[:8]
    out = [
        "# Storefront performance: latest run",
        "",
        "Made by `bench/run` (see bench/README.md). Every product page is served by one "
        "gunicorn, the bare floor by a second (bench/bare/), driven over loopback on the "
        "same machine as PostgreSQL and Redis.",
        "",
        *warning,
        table(pages),
        "",
        floors_text(pages),
        "",
        "## Targets",
        "",
        "Ratios are to the bare floor measured in the same run: the mean of a 5 s load of it "
        "just before and one just after each page's (bench/README.md: this machine's speed "
        "drifts within a run).",
        "",
        targets_text(pages, extra=extra_targets(pages, launch, stamp)),
        "",
        "## The launch (bench/launch.py)",
        "",
        launch_text(launch),
        "",
        "## Memory",
        "",
        memory_text(pages, launch),
        "",
        "## The middleware stack (bench/middleware_cost.py)",
        "",
        middleware or "Not measured in this run.",
        "",
        "## Buyer-stamped files (bench/stamp.py)",
        "",
        stamp_section.text(stamp),
        "",
        "## The run",
        "",
        f"- gunicorn `storefront.wsgi` with `DJANGO_SETTINGS_MODULE=bench.settings_floor`: "
        f"{env.get('BENCH_WORKERS', '?')} sync workers, `CONN_MAX_AGE={env.get('CONN_MAX_AGE')}`, "
        f"DEBUG={env.get('DEBUG')}, Redis cache, HTTPS_ONLY behind a proxy "
        "(`X-Forwarded-Proto: https` on every request), `PRIVATE_FILES_SERVE="
        f"{env.get('PRIVATE_FILES_SERVE')}`.",
        "- The bare floor: a second gunicorn, `bench.bare.wsgi` with "
        "`DJANGO_SETTINGS_MODULE=bench.bare.settings` (Django's security, session, common "
        "and CSRF middleware only; no product code), the same flags and worker count, "
        "`--config python:bench.bare.gunicorn` (the same `gc.freeze` hook), the same "
        "database, `CONN_MAX_AGE` and environment, measured in the same run.",
        "- Load: " + "; ".join(f"{p.key}: {p.result['tool']}" for p in pages if p.result) + ".",
        "- Each load follows a warm-up of the same shape "
        f"({env.get('BENCH_WARMUP', '3s')}). Latency includes waiting for a free worker.",
        "- Queries: one request per page (after one warm-up request) through Django's test "
        "Client with CaptureQueriesContext; DB ms is the sum of those queries' times. "
        '"first": the warm-up request\'s count, when it differs (a cold cache).',
        "",
        *(f"{line}\n" for line in _seeding(run_dir)),
        "## Slowest queries (full plans in explain.md)",
        "",
        "| page | ms | query |",
        "|---|--:|---|",
        *(
            f"| {label} | {ms:.1f} | `{' '.join(sql.split())[:160].replace('|', '/')}...` |"
            for ms, label, sql in slow
        ),
        "",
        "## Machine",
        "",
        *(f"- {name}: {value}" for name, value in machine()),
        "- CPU used by other processes just before each page's load: "
        + ", ".join(f"{p.key} {p.busy_before:.0%}" for p in pages if p.result)
        + f"; after the last: {cpu_busy_after:.0%} (load average {' '.join(load)})",
        "",
    ]
    return "\n".join(out)
