"""Time and peak memory to build a ~300-page book (PDF and EPUB) from Markdown.

    .venv/bin/python bench/build_book.py [--chapters 60]

Prints one line per format and appends a table to bench/results/build_book.md.
Target (issue "write in plain text"): under 60 s on this machine.
"""

import argparse
import io
import os
import resource
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings")

import django  # noqa: E402

django.setup()

from PIL import Image  # noqa: E402

from catalog.ebook import BookText, Chapter, build_epub, build_pdf  # noqa: E402

PARAGRAPH = (
    "A decisão de dividir o monólito não veio de um quadro branco — veio de uma falha em produção. "
    "Each team owned its service end to end, with the “you build it, you run it” rule, and paid for it "
    "in on-call hours. "
) * 6


def chapter_text(n: int) -> str:
    return "\n\n".join(
        [
            PARAGRAPH,
            "## What broke",
            PARAGRAPH,
            "- the database\n- the cache\n- the deploy pipeline",
            "```python\ndef retry(call, attempts=3):\n    for n in range(attempts):\n        try:\n            return call()\n"
            "        except TimeoutError:\n            continue\n```",
            f"![Figure {n}](images/figure.png)",
            "## What it cost",
            PARAGRAPH * 2,
        ]
    )


def book(chapters: int) -> BookText:
    image = io.BytesIO()
    Image.new("RGB", (600, 300), (40, 90, 160)).save(image, format="PNG")
    return BookText(
        title="BehindTheStack (bench)",
        subtitle="A 300-page book",
        authors=["Bench Author"],
        language="en",
        identifier="storefront:bench-book",
        chapters=[
            Chapter(
                title=f"Chapter {i}: Part of the story",
                markdown=chapter_text(i),
                part=f"Part {1 + i // 10}",
                source=f"ch{i:02}.md",
            )
            for i in range(1, chapters + 1)
        ],
        images={"images/figure.png": image.getvalue()},
    )


def measure(label, fn):
    tracemalloc.start()
    started = time.perf_counter()
    data = fn()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return label, seconds, peak, len(data), data


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chapters", type=int, default=72)  # about 300 PDF pages
    args = parser.parse_args()
    text = book(args.chapters)
    results = [measure("PDF", lambda: build_pdf(text)), measure("EPUB", lambda: build_epub(text))]
    pdf = results[0][4]
    pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        f"# Building a book: {args.chapters} chapters, {pages} PDF pages ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        "| format | seconds | peak Python memory (MB) | size (kB) |",
        "|---|--:|--:|--:|",
        *[
            f"| {label} | {seconds:.2f} | {peak / 1e6:.1f} | {size / 1024:.0f} |"
            for label, seconds, peak, size, _ in results
        ],
        "",
        f"Process peak RSS: {rss_mb:.0f} MB. Target: the whole build under 60 s.",
    ]
    print("\n".join(lines))
    out = ROOT / "bench" / "results" / "build_book.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
