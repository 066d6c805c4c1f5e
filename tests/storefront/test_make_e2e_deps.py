"""`make test` installs axe-core for the accessibility checks when npm exists,
once per lock file, and still works (those checks skip) on a machine without npm."""

import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]


def e2e_deps(cwd, path):
    make = shutil.which("make")
    require(make is not None, "make is not installed")
    return subprocess.run(
        [make, "-s", "-f", ROOT / "Makefile", "e2e-deps"],
        cwd=cwd,
        env={"PATH": path, "HOME": str(cwd)},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def test_without_npm_the_install_is_skipped_with_a_note(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()

    assert "npm not found" in e2e_deps(tmp_path, str(empty))


def test_npm_ci_runs_from_the_lock_file_and_only_again_when_it_changes(tmp_path):
    (tmp_path / "tests/e2e").mkdir(parents=True)
    lock = tmp_path / "tests/e2e/package-lock.json"
    lock.write_text("{}")
    calls = tmp_path / "calls.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\n'
        "mkdir -p tests/e2e/node_modules && touch tests/e2e/node_modules/.package-lock.json\n"
    )
    npm.chmod(0o755)
    path = f"{bin_dir}:/usr/bin:/bin"

    e2e_deps(tmp_path, path)
    e2e_deps(tmp_path, path)
    assert calls.read_text().splitlines() == [
        "ci --prefix tests/e2e --no-audit --no-fund --loglevel=error"
    ]

    future = lock.stat().st_mtime + 60
    os.utime(lock, (future, future))
    e2e_deps(tmp_path, path)
    assert len(calls.read_text().splitlines()) == 2
