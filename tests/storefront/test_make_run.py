"""`make run` serves the store where e-mail links point (SITE_URL follows HOST and PORT)."""

import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]


def make_run(tmp_path, *args, env=None) -> list[str]:
    """`make run` with a stand-in for the virtualenv's python that records the
    environment each manage.py command gets instead of running it."""
    require(shutil.which("make") is not None, "make is not installed")
    tmp_path.mkdir(exist_ok=True)
    calls = tmp_path / "calls.txt"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\necho "$SITE_URL $*" >> {calls}\n')
    python.chmod(0o755)
    clean = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    # -o: never (re)install the virtualenv; the recipe runs in tmp_path.
    command = ["make", "-s", "-f", ROOT / "Makefile", "-o", ".venv/.installed", "run"]
    subprocess.run(
        [*command, f"PY={python}", *args],
        cwd=tmp_path,
        env={**clean, **(env or {})},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return calls.read_text().splitlines()


def test_make_run_on_another_port_links_e_mails_to_that_port_unless_site_url_is_set(tmp_path):
    calls = make_run(tmp_path / "default", "PORT=8123")
    chosen = make_run(tmp_path / "own", "PORT=8123", env={"SITE_URL": "https://books.example.com"})

    assert calls[-1] == "http://127.0.0.1:8123 manage.py runserver 127.0.0.1:8123"
    assert all(call.startswith("http://127.0.0.1:8123 ") for call in calls)  # seed_demo too
    assert chosen[-1] == "https://books.example.com manage.py runserver 127.0.0.1:8123"
