"""Time series: a readout scored on finished runs, without training them again.

A readout changes how per-timestamp features become an instance embedding (for TS2Vec's
encoder, `encoder.kwargs.pyramid` or `readout_layers`), not what is trained: the
`ts2vec-pyramid` recipe trains bit for bit the weights `ts2vec` trains with the same seed
(tests/timeseries/test_pyramid_pooling.py checks it). So each run's exported weights are
loaded into its encoder rebuilt with the readout's keyword arguments, and scored by TS2Vec's
SVM protocol on the run's own dataset, one JSON line per run, named like
`timeseries_cross_dataset.py`'s rows (the replicate is the run's seed, the training time the
run's own).

    python benchmarks/timeseries_readout.py --candidate ts2vec-pyramid --set pyramid=[1,2] \\
        --runs runs/bench-timeseries/ts2vec-*-seed{0,1,2}
    python benchmarks/timeseries_readout.py --candidate ts2vec-layers --set readout_layers=[9] \\
        --runs runs/bench-timeseries/ts2vec-*-seed{0,1,2}
    python benchmarks/timeseries_readout.py --smoke   # pyramid=[1,2] on a 2-step UnitTest run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import yaml

import contrastlearn
from contrastlearn.api import evaluate_splits, load_run_data
from contrastlearn.config import load_recipe
from contrastlearn.core.registry import ENCODERS
from contrastlearn.data.resolve import prepare_for_encoder
from contrastlearn.export import load_encoder, read_encoder_config, resolve_asset_paths

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_timeseries import run_name  # noqa: E402
from result_rows import (  # noqa: E402
    add_smoke_option,
    keep_row,
    smoke_folder,
    without_run_reports,
)


def with_readout(run: Path, kwargs: dict) -> torch.nn.Module:
    """The run's encoder, rebuilt with `kwargs` on top of its own, holding its weights."""
    config = read_encoder_config(run / "encoder")
    own = resolve_asset_paths(config, run / "encoder")
    module = ENCODERS.build(config["encoder"], **{**own, **kwargs})
    return load_encoder(run, module=module)


def score(run: Path, candidate: str, kwargs: dict) -> dict:
    recipe = load_recipe(run / "recipe.yaml")
    encoder = with_readout(run, kwargs)
    splits = prepare_for_encoder(load_run_data(recipe, None), encoder)
    result = evaluate_splits(encoder, splits, protocols=["svm"], labels_per_class=(),
                             seeds=(0,), raw_baseline=False, device="cpu", batch_size=512)[0]
    return {"candidate": candidate, "dataset": Path(str(recipe.data.dataset)).stem,
            "replicate": recipe.seed, "member_seeds": [recipe.seed], "members": [str(run)],
            "readout_of": recipe.name, "readout": kwargs, "balanced": False,
            "svm_accuracy": result.value, "embedding_dim": int(encoder.out_dim),
            "train_seconds": json.loads((run / "training.json").read_text())["seconds"]}


def smoke_run(folder: Path) -> Path:
    """A finished 2-step `ts2vec` run on UnitTest (not evaluated): something to read out."""
    out = folder / run_name("ts2vec", "UnitTest", 0)
    contrastlearn.pretrain("ts2vec", dataset="UnitTest", out=out, progress=False,
                           evaluate_after=False, overrides={"train.steps": 2})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", help="the name rows carry")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="encoder keyword argument (YAML value), e.g. pyramid=[1,2]")
    parser.add_argument("--runs", nargs="+", help="finished run directories")
    parser.add_argument("--out", default="benchmarks/results/timeseries_readout.jsonl")
    add_smoke_option(parser)
    args = parser.parse_args()
    if args.smoke:
        folder = smoke_folder()
        without_run_reports()
        args.candidate, args.set = "ts2vec-pyramid", ["pyramid=[1,2]"]
        args.runs, args.out = [str(smoke_run(folder))], str(folder / "timeseries_readout.jsonl")
    elif not (args.candidate and args.runs):
        parser.error("--candidate and --runs are required (or --smoke)")
    kwargs = {}
    for item in args.set:
        key, separator, value = item.partition("=")
        if not separator:
            raise SystemExit(f"--set takes KEY=VALUE, got {item!r}")
        kwargs[key] = yaml.safe_load(value)
    for run in args.runs:
        keep_row(Path(args.out), score(Path(run), args.candidate, kwargs))


if __name__ == "__main__":
    main()
