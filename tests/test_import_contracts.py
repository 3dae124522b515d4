"""The layers of ../shared/DESIGN.md, enforced: `lint-imports` checks the contracts in
pyproject.toml (arrows point down, rooms are independent, objectives/engine know no room, the
core is a leaf, no import cycles)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    command = shutil.which("lint-imports")
    if command is None:
        pytest.skip("import-linter is not installed: pip install -e '.[dev]'")
    result = subprocess.run([command, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "0 broken" in result.stdout
