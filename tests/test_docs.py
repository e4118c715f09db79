"""The checks beside the suite, so the README's one test command runs them too: ruff over the
repository, and the docs built with ``mkdocs build --strict`` (a broken link, a missing anchor or a
page left out of the navigation fails it). Both tools are pinned in docs/requirements.txt, which
.ci/run installs; where they are missing the tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MKDOCS_CONFIG = ROOT / "docs" / "mkdocs.yml"
README_MAX_LINES = 300


def _tool_or_skip(available: bool, name: str) -> None:
    if available:
        return
    message = f"{name} is not installed: python3 -m pip install -r docs/requirements.txt"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _run(command: list[str]) -> subprocess.CompletedProcess:
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about its successor, on every build
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300, check=False)


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff")
    _tool_or_skip(ruff is not None, "ruff")
    run = _run([ruff, "check", "--no-cache", "--output-format", "concise", "."])
    assert run.returncode == 0, f"ruff check . found problems:\n{run.stdout}{run.stderr}"


def build_docs(config: Path, site_dir: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of ``config`` into ``site_dir``: the docs exactly as CI builds them."""
    # Not --quiet: it hides the warnings that --strict counts, and the build then passes with a broken link.
    return _run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site_dir)])


def test_the_docs_build_strictly(tmp_path):
    _tool_or_skip(importlib.util.find_spec("mkdocs") is not None and importlib.util.find_spec("material") is not None,
                  "mkdocs-material")
    run = build_docs(MKDOCS_CONFIG, tmp_path / "site")
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}{run.stderr}"
    for page in ("index.html", "api/json-api/index.html", "benchmarks/index.html", "changelog/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    # The pictures are symlinks into dashboard/screenshots and bench/: they must reach the built site.
    assert (tmp_path / "site" / "screenshots" / "predict.png").stat().st_size > 10_000


def test_a_broken_link_fails_the_docs_build(tmp_path):
    """The strict build is what catches a broken link: a copy of the docs with one must fail."""
    _tool_or_skip(importlib.util.find_spec("mkdocs") is not None and importlib.util.find_spec("material") is not None,
                  "mkdocs-material")
    docs = tmp_path / "docs"
    links = [path for path in (ROOT / "docs" / "pages").rglob("*") if path.is_symlink()]
    shutil.copytree(ROOT / "docs", docs, ignore=lambda folder, names: [n for n in names if n == "site" or Path(folder, n).is_symlink()])
    for link in links:  # the pictures and the changelog, linked where they are rather than copied
        (docs / link.relative_to(ROOT / "docs")).symlink_to(link.resolve())
    page = docs / "pages" / "operations" / "backups.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nSee [the missing page](no-such-page.md).\n", encoding="utf-8")
    run = build_docs(docs / "mkdocs.yml", tmp_path / "site")
    assert run.returncode != 0 and "no-such-page.md" in run.stdout + run.stderr, run.stdout + run.stderr


def test_the_readme_is_the_front_door_and_its_links_resolve():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    assert "python3 -m pytest -q\n" in text, "the README's test command is the one .ci/run runs"
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [target for target in targets if "://" not in target]
    assert local, "the README links into docs/"
    missing = [target for target in local if not (ROOT / target).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"


def test_ci_runs_the_readmes_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in ci.splitlines() if line.strip().startswith("python3 -m pytest")]
    assert commands == ["python3 -m pytest -q"], commands
    assert "docs/requirements.txt" in ci
