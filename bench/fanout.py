"""Fan-out of one release to 100,000 owners: e-mails enqueued per second, worker memory.

    .venv/bin/python bench/fanout.py [--owners 100000]

Uses its own PostgreSQL database (storefront_bench_fanout, dropped and created)
and Redis database 10. A real Celery worker (solo pool) runs announce_release and
the chunk tasks; the deliver_email tasks they enqueue are routed to a queue no
worker consumes (and purged at the end), so this measures the fan-out itself:
outbox rows written and send tasks queued per second, and the worker's peak
memory (VmHWM). Writes bench/results/fanout.md.
"""

import argparse
import io
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB = "storefront_bench_fanout"
REDIS = os.environ.get("BENCH_FANOUT_REDIS_URL", "redis://127.0.0.1:6379/10")
ENV = {
    **os.environ,
    "DATABASE_URL": f"{PG}/{DB}",
    "REDIS_URL": REDIS,
    "CELERY_QUEUE": "bench-fanout",
    "DJANGO_SETTINGS_MODULE": "bench.settings_fanout",
    "DEBUG": "false",
    "SECRET_KEY": "bench-" + "x" * 60,
    "EMAIL_URL": "dummymail://",
}


def sh(*args, **kwargs):
    return subprocess.run(args, check=True, cwd=ROOT, env=ENV, **kwargs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--owners", type=int, default=100_000)
    args = parser.parse_args()
    python = str(ROOT / ".venv" / "bin" / "python")
    sh(
        "psql",
        PG + "/postgres",
        "-q",
        "-c",
        f"DROP DATABASE IF EXISTS {DB}",
        "-c",
        f"CREATE DATABASE {DB}",
    )
    sh(python, "manage.py", "migrate", "-v0")
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.db import connection

    from catalog import services
    from catalog.models import Author, Book, BookAuthor
    from core.models import EmailDelivery
    from storefront.celery import app

    started = time.perf_counter()
    author_user = _user_model().objects.create_user("bench-author@example.com", "x")
    author = Author.objects.create(
        user=author_user, display_name="Bench Author", slug="bench-author"
    )
    book = Book.objects.create(slug="fanout", title="Fan-out Book", status="completed")
    BookAuthor.objects.create(book=book, author=author)
    with connection.cursor() as cursor:
        users = io.StringIO(
            "".join(
                f"reader{i}@example.com\t!\tt\tf\tf\t2026-01-01\t\n" for i in range(args.owners)
            )
        )
        with cursor.copy(
            "COPY accounts_user (email, password, is_active, is_staff, is_superuser, date_joined, name) FROM STDIN"
        ) as copy:
            copy.write(users.getvalue())
        cursor.execute(
            "INSERT INTO library_entitlement (user_id, book_id, granted_at, notify_updates)"
            " SELECT id, %s, now(), true FROM accounts_user WHERE email LIKE 'reader%%'",
            [book.pk],
        )
    seeded = time.perf_counter() - started

    worker = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "storefront",
            "worker",
            "--pool=solo",
            "-Q",
            "bench-fanout",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=ENV,
    )
    try:
        time.sleep(4)
        release = services.create_release(
            book=book,
            version="2.0",
            notes="Bench",
            files={"pdf": ContentFile(b"%PDF-1.4 %%EOF", name="b.pdf")},
        )
        t0 = time.perf_counter()
        services.publish_release(release=release)  # on commit: announce_release -> the worker
        peak_kb = 0
        while EmailDelivery.objects.count() < args.owners and time.perf_counter() - t0 < 600:
            peak_kb = max(peak_kb, _vm_hwm(worker.pid))
            time.sleep(0.5)
        elapsed = time.perf_counter() - t0
        queued = EmailDelivery.objects.count()
        peak_kb = max(peak_kb, _vm_hwm(worker.pid))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        with app.connection_for_write() as conn:
            for queue in ("bench-fanout-deliver", "bench-fanout"):
                conn.default_channel.queue_purge(queue)
    lines = [
        f"# Fan-out of one release ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        "| owners | e-mails queued | seconds | e-mails queued per second | worker peak memory (MB) |",
        "|--:|--:|--:|--:|--:|",
        f"| {args.owners:,} | {queued:,} | {elapsed:.1f} | {queued / elapsed:,.0f} | {peak_kb / 1024:.0f} |",
        "",
        f"Seeding {args.owners:,} owners took {seeded:.1f} s. Chunks of {django.conf.settings.UPDATE_EMAIL_CHUNK}.",
    ]
    print("\n".join(lines))
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "fanout.md").write_text("\n".join(lines) + "\n")


def _user_model():
    from django.contrib.auth import get_user_model

    return get_user_model()


def _vm_hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    main()
