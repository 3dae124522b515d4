"""A room installed from outside the library (examples/vectors_room) registers through the
`contrastlearn.modalities` entry point group and trains end to end through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "vectors_room"
RECIPE = EXAMPLE / "vectors-simclr.yaml"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example package installed (with its entry point metadata) into its own folder."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
                   check=True, capture_output=True)
    return target


def cli(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "contrastlearn", *args], cwd=cwd,
                          env={**os.environ, "PYTHONPATH": path}, capture_output=True,
                          text=True)


def knn_of(run: Path) -> float:
    results = json.loads((run / "results.json").read_text())
    return next(r["value"] for r in results
                if r["protocol"] == "knn" and r["settings"]["representation"] == "encoder")


@pytest.mark.slow  # 20-30 s: trains through subprocesses; the suite keeps under 8 minutes
def test_installed_room_trains_through_the_cli_and_learns(site, tmp_path):
    listed = cli(site, "datasets", cwd=tmp_path)
    assert listed.returncode == 0 and "vector-blobs" in listed.stdout
    trained = cli(site, "pretrain", "--recipe", str(RECIPE), "--out", "trained",
                  "--no-progress", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "simclr on vector-blobs" in trained.stdout
    frozen = cli(site, "pretrain", "--recipe", str(RECIPE), "--out", "frozen", "--no-progress",
                 "--set", "train.lr=1e-12", cwd=tmp_path)
    assert frozen.returncode == 0, frozen.stderr[-2000:]
    # the views teach scale invariance: the trained encoder's kNN beats the untrained one's
    assert knn_of(tmp_path / "trained") > knn_of(tmp_path / "frozen") + 0.04
    config = json.loads((tmp_path / "trained" / "encoder" / "config.json").read_text())
    assert config["modality"] == "vectors"
    np.save(tmp_path / "some.npy", np.ones((3, 16), dtype=np.float32))
    embedded = cli(site, "embed", "trained", "--input", "some.npy", "--output", "out.npy",
                   cwd=tmp_path)
    assert embedded.returncode == 0, embedded.stderr[-2000:]
    assert np.load(tmp_path / "out.npy").shape == (3, 32)


def test_room_missing_from_the_environment_is_an_error_naming_the_modality(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.read_text())
    result = subprocess.run([sys.executable, "-m", "contrastlearn", "pretrain", "--recipe",
                             str(recipe), "--out", str(tmp_path / "run")],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "data.modality" in result.stderr and "'vectors'" in result.stderr
    assert "Traceback" not in result.stderr
