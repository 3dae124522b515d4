"""The documentation works: the README stays short, every ```python snippet in README.md and
docs/ runs, the README's command-1 table is where a comparison can find it, and the MkDocs
site builds in strict mode.

Snippets run in this process, each in a fresh namespace and a fresh temporary working
directory, in the order they appear. A ```python block made only of `--8<-- "path"` include
lines (the docs site quotes real files that way) is not run: the included files must exist
and compile, and their own tests run them."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from contrastlearn import api

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 300
COMMAND_1_MARKER = "<!-- command-1-output -->"

FENCE = re.compile(r"^```(?P<lang>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
INCLUDE = re.compile(r'^--8<--\s+"(?P<path>[^"]+)"\s*$')


def doc_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def fenced_blocks(text: str) -> list[tuple[str, int, str]]:
    """(language, first line number of the body, body) of every fenced block."""
    blocks = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start("body")) + 1
        blocks.append((match["lang"].strip().split(" ")[0], line, match["body"]))
    return blocks


def python_snippets() -> list[tuple[Path, int, str]]:
    snippets = []
    for path in doc_files():
        for lang, line, body in fenced_blocks(path.read_text(encoding="utf-8")):
            if lang in ("python", "py"):
                snippets.append((path, line, body))
    return snippets


SNIPPETS = python_snippets()


def _snippet_id(snippet: tuple[Path, int, str]) -> str:
    path, line, _ = snippet
    return f"{path.relative_to(ROOT).as_posix()}:{line}"


def included_paths(body: str) -> list[str] | None:
    """The files a block only includes (`--8<-- "path"` lines), or None for ordinary code."""
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    matches = [INCLUDE.match(line) for line in lines]
    if lines and all(matches):
        return [match["path"] for match in matches]
    return None


def command_1_table(text: str) -> list[str]:
    """The lines of the fenced block right under the command-1 marker of the README."""
    lines = text.splitlines()
    start = lines.index(COMMAND_1_MARKER)
    assert lines[start + 1].startswith("```"), "the marker must sit right above a fenced block"
    end = lines.index("```", start + 2)
    return lines[start + 2:end]


def test_readme_is_short() -> None:
    count = len(README.read_text(encoding="utf-8").splitlines())
    assert count <= MAX_README_LINES, f"README.md has {count} lines (at most {MAX_README_LINES})"


def test_there_are_snippets_in_readme_and_docs() -> None:
    files = {path for path, _, _ in SNIPPETS}
    assert README in files
    assert any(path.is_relative_to(DOCS) for path in files)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[_snippet_id(s) for s in SNIPPETS])
def test_python_snippet_runs(snippet: tuple[Path, int, str], tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    path, line, body = snippet
    included = included_paths(body)
    if included is not None:
        for name in included:
            source = ROOT / name
            assert source.is_file(), f"{_snippet_id(snippet)} includes missing file {name}"
            compile(source.read_text(encoding="utf-8"), str(source), "exec")
        return
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # estimators' temporary run dirs
    # the snippets' runs skip the HTML report and views picture (seconds of plotting each,
    # tested in tests/report); the code a reader copies is unchanged
    monkeypatch.setattr(api, "write_report", lambda *args, **kwargs: None)
    monkeypatch.setattr(api, "_write_preview", lambda *args, **kwargs: None)
    code = compile(body, f"{_snippet_id(snippet)}", "exec")
    exec(code, {"__name__": "__docs_snippet__"})  # noqa: S102 - our own documentation


def test_command_1_table_is_marked() -> None:
    """CI (`.ci/run`) runs README command 1 and compares its output with this block."""
    table = command_1_table(README.read_text(encoding="utf-8"))
    assert table[0].startswith("top-1 accuracy on split 'holdout_0.2_seed0'")
    assert table[1].split() == ["protocol", "labels", "simclr", "encoder", "raw", "input"]
    assert table[-2].startswith("alignment = ")
    assert table[-1].startswith("uniformity = ")
    spec = importlib.util.spec_from_file_location("readme_command",
                                                  ROOT / ".ci" / "readme_command.py")
    if spec is None or not (ROOT / ".ci" / "readme_command.py").is_file():
        return
    ci = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ci)
    assert ci.sample_output() == [line.rstrip() for line in table]
    assert ci.command("1") == "pip install torch==2.13.0 -e . && contrastlearn pretrain"
    assert ci.command("2") == 'pip install torch==2.13.0 -e ".[dev]" && python -m pytest -q'


def _mkdocs_missing() -> str | None:
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except ModuleNotFoundError:
            return module
    return None


def test_mkdocs_builds_strict(tmp_path: Path) -> None:
    missing = _mkdocs_missing()
    if missing is not None:
        pytest.skip(f"{missing} is not installed: pip install -e '.[docs]'")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "index.html").is_file()
