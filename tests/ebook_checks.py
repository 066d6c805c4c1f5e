"""Second, independent readers of the files we make: Debian's EPUBCheck for EPUBs and
poppler's pdftotext for PDFs. Missing tools skip locally and fail under CI=true
(.ci/run installs epubcheck and poppler-utils)."""

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import require

EPUBCHECK_JAR = Path("/usr/share/java/epubcheck.jar")


def assert_epubcheck_passes(data: bytes) -> None:
    """EPUBCheck finds no error and no warning in the EPUB."""
    require(
        shutil.which("java") is not None and EPUBCHECK_JAR.exists(),
        "EPUBCheck (apt-get install epubcheck)",
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "book.epub"
        path.write_bytes(data)
        result = subprocess.run(
            ["java", "-jar", str(EPUBCHECK_JAR), "--quiet", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "ERROR" not in report and "WARNING" not in report, report


def pdf_pages_text(data: bytes) -> list[str]:
    """Each page's text as pdftotext reads it."""
    require(shutil.which("pdftotext") is not None, "pdftotext (apt-get install poppler-utils)")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "book.pdf"
        path.write_bytes(data)
        result = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(path), "-"],
            capture_output=True,
            timeout=120,
            check=True,
        )
    pages = result.stdout.decode().split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages
