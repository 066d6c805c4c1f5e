"""Buyer-stamped files: one reader's copy of a 300-page PDF, and a release for every owner.

    .venv/bin/python -m bench.stamp [--owners 10000] [--chapters 72] [--json-out FILE]
    bench/run --reuse-db --pages stamp          # the same, as a section of bench/run

1. Builds the bench book (bench/build_book.py: ~300 PDF pages, figures, code) and times
   ``catalog.ebook.stamp.stamp_pdf`` for one reader, 5 times: target median < 1 s.
2. In its own PostgreSQL database (storefront_bench_stamp, dropped and created) and Redis
   database 11: a stamped book with ``--owners`` owners (COPY), one real Celery worker
   (solo pool, like production's one process per core), then a new release published
   through ``catalog.services.publish_release``. Its ``release_published`` signal starts
   ``restamp_release``, which fans out ``stamp_chunk`` tasks of STAMP_CHUNK owners; the
   e-mail fan-out goes to a queue nobody consumes (bench/settings_stamp.py). Measured:
   copies (PDF and EPUB) stamped per second until every owner has both, and the worker's
   peak RSS (VmHWM). The stamped files (about 0.5 MB per owner) are deleted at the end.

Writes bench/results/stamp.md (and the JSON to ``--json-out``).
"""

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB = "storefront_bench_stamp"
REDIS = os.environ.get("BENCH_STAMP_REDIS_URL", "redis://127.0.0.1:6379/11")
VAR = ROOT / "bench" / "var" / "stamp"
QUEUE = "bench-stamp"
ONE_READER_BOUND_S = 1.0
ENV = {
    "DATABASE_URL": f"{PG}/{DB}",
    "REDIS_URL": REDIS,
    "CELERY_QUEUE": QUEUE,
    "DJANGO_SETTINGS_MODULE": "bench.settings_stamp",
    "DEBUG": "false",
    "SECRET_KEY": "bench-" + "x" * 60,
    "EMAIL_URL": "dummymail://",
    "VAR_DIR": str(VAR),
    "PRIVATE_FILES_SERVE": "django",
    "LOG_LEVEL": "WARNING",
    "CACHE_KEY_PREFIX": "storefront-bench-stamp",
}


def run_section(json_out: Path, owners: int | None = None) -> dict | None:
    """bench/run's section: this script in a process of its own (its own database and
    settings), its result read back; None if it failed (its output says why)."""
    env = {k: v for k, v in os.environ.items() if k not in ENV}
    args = [sys.executable, "-m", "bench.stamp", "--json-out", str(json_out)]
    if owners:
        args += ["--owners", str(owners)]
    done = subprocess.run(args, cwd=ROOT, env=env, timeout=3 * 3600)
    if done.returncode != 0 or not json_out.exists():
        return None
    return json.loads(json_out.read_text())


def targets(result: dict) -> list[tuple[str, str, bool]]:
    one = result["one_reader"]
    return [
        (
            f"stamping a {one['pages']}-page PDF for one reader < {ONE_READER_BOUND_S:g} s",
            f"{one['median_s']:.3f} s",
            one["median_s"] < ONE_READER_BOUND_S,
        )
    ]


def text(result: dict | None) -> str:
    if not result:
        return "Not measured in this run."
    one, fan = result["one_reader"], result["release"]
    verdict = "PASS" if one["median_s"] < ONE_READER_BOUND_S else "FAIL"
    return "\n".join(
        [
            f"One reader: a {one['pages']}-page PDF ({one['pdf_kb']:,} kB) stamped in "
            f"**{one['median_s']:.3f} s** (median of {one['runs']}, max {one['max_s']:.3f} s): "
            f"**{verdict}** (< {ONE_READER_BOUND_S:g} s); its EPUB in {one['epub_s']:.3f} s.",
            "",
            "| owners | copies (PDF + EPUB) | seconds | copies per second | owners per second | worker peak RSS (MiB) |",
            "|--:|--:|--:|--:|--:|--:|",
            f"| {fan['owners']:,} | {fan['copies']:,} | {fan['seconds']:.1f} | "
            f"{fan['copies_per_second']:.1f} | {fan['owners_per_second']:.1f} | {fan['peak_rss_mb']:.0f} |",
            "",
            f"One Celery worker (solo pool), chunks of {fan['chunk']} owners; "
            f"{'complete' if fan['complete'] else 'INCOMPLETE (timed out)'}.",
        ]
    )


def one_reader(chapters: int) -> tuple[dict, bytes, bytes]:
    from bench.build_book import book
    from catalog.ebook import build_epub, build_pdf
    from catalog.ebook.stamp import Stamp, stamp_epub, stamp_pdf

    source = book(chapters)
    pdf, epub = build_pdf(source), build_epub(source)
    stamp = Stamp("Bench Reader", "reader@bench.example", "0b0e7c4e-1f6c-4c38-9d0e-123456789abc")
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as opened:
        pages = len(opened.pages)
    seconds = []
    for _ in range(5):
        started = time.perf_counter()
        stamp_pdf(pdf, stamp)
        seconds.append(time.perf_counter() - started)
    started = time.perf_counter()
    stamp_epub(epub, stamp)
    epub_s = time.perf_counter() - started
    result = {
        "pages": pages,
        "pdf_kb": len(pdf) // 1024,
        "runs": len(seconds),
        "median_s": statistics.median(seconds),
        "max_s": max(seconds),
        "epub_s": epub_s,
    }
    return result, pdf, epub


def seed(owners: int, pdf: bytes, epub: bytes):
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.db import connection

    from catalog import services
    from catalog.models import Author, Book, BookAuthor

    user = get_user_model().objects.create_user("bench-author@bench.example", "x")
    author = Author.objects.create(user=user, display_name="Bench Author", slug="bench-author")
    book = Book.objects.create(
        slug="stamped", title="Stamped Book", status="completed", stamp_files=True
    )
    BookAuthor.objects.create(book=book, author=author)
    first = services.create_release(
        book=book, version="1.0", files={"pdf": ContentFile(pdf, name="b.pdf")}
    )
    services.publish_release(release=first)  # before the worker: nobody owns it yet
    with connection.cursor() as cursor:
        rows = "".join(
            f"reader{i}@bench.example\t!\tt\tf\tf\t2026-01-01\tReader {i}\n" for i in range(owners)
        )
        with cursor.copy(
            "COPY accounts_user (email, password, is_active, is_staff, is_superuser, date_joined, name) FROM STDIN"
        ) as copy:
            copy.write(rows)
        cursor.execute(
            "INSERT INTO library_entitlement (user_id, book_id, granted_at, notify_updates, order_ref)"
            " SELECT id, %s, now(), true, gen_random_uuid() FROM accounts_user"
            " WHERE email LIKE 'reader%%'",
            [book.pk],
        )
    return book, services.create_release(
        book=book,
        version="2.0",
        files={"pdf": ContentFile(pdf, name="b.pdf"), "epub": ContentFile(epub, name="b.epub")},
    )


def restamp(owners: int, pdf: bytes, epub: bytes, timeout: float) -> dict:
    from django.conf import settings

    from catalog import services
    from library.models import StampedFile
    from storefront.celery import app

    book, release = seed(owners, pdf, epub)
    celery = str(ROOT / ".venv" / "bin" / "celery")
    queues = f"{QUEUE},{QUEUE}.bulk"  # stamping is bulk work (storefront/celery.py)
    options = ["--pool=solo", "-Q", queues, "-l", "WARNING", "--without-gossip", "--without-mingle"]
    worker = subprocess.Popen(
        [celery, "-A", "storefront", "worker", *options],
        cwd=ROOT,
        env={**os.environ, **ENV},
    )
    try:
        time.sleep(4)  # the worker connects
        expected = owners * 2
        started = time.perf_counter()
        services.publish_release(release=release)  # on commit: restamp_release -> the worker
        ready = 0
        while time.perf_counter() - started < timeout:
            ready = StampedFile.objects.filter(release=release, status="ready").count()
            if ready >= expected:
                break
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        peak_kb = _vm_hwm(worker.pid)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        with app.connection_for_write() as conn:
            for queue in (QUEUE, "bench-stamp-idle"):
                conn.default_channel.queue_purge(queue)
        shutil.rmtree(VAR / "private" / "stamped", ignore_errors=True)
    return {
        "owners": owners,
        "copies": ready,
        "seconds": seconds,
        "copies_per_second": ready / seconds,
        "owners_per_second": ready / 2 / seconds,
        "peak_rss_mb": peak_kb / 1024,
        "chunk": settings.STAMP_CHUNK,
        "complete": ready >= expected,
        "book": book.slug,
    }


def _vm_hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--owners", type=int, default=10_000)
    parser.add_argument("--chapters", type=int, default=72)  # about 300 PDF pages
    parser.add_argument("--timeout", type=float, default=2 * 3600)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    os.environ.update(ENV)
    VAR.mkdir(parents=True, exist_ok=True)
    python = str(ROOT / ".venv" / "bin" / "python")
    sh = {"check": True, "cwd": ROOT, "env": os.environ}
    drop, create = f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", f"CREATE DATABASE {DB}"
    subprocess.run(["psql", f"{PG}/postgres", "-q", "-c", drop, "-c", create], **sh)
    subprocess.run([python, "manage.py", "migrate", "-v0"], **sh)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    print("== stamping: one reader", flush=True)
    single, pdf, epub = one_reader(args.chapters)
    print(f"   {single['pages']} pages: median {single['median_s']:.3f} s", flush=True)
    print(f"== stamping: a new release for {args.owners:,} owners, one worker", flush=True)
    result = {"one_reader": single, "release": restamp(args.owners, pdf, epub, args.timeout)}
    result["targets"] = targets(result)
    body = "\n".join(
        [f"# Buyer-stamped files ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "", text(result)]
    )
    print(body)
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "stamp.md").write_text(body + "\n")
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
