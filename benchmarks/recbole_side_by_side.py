"""Train RecBole 1.2.1 recommenders on a fixed train/valid/test split (issue 26 anchor).

Why: our recommenders must be compared with a reference implementation on exactly the same
interactions, so this script feeds RecBole a pre-made split (RecBole's ``benchmark_filename``
mechanism) instead of letting it split the data itself, and records test Recall/NDCG/Hit at
10/20/50 with full-sort ranking, the best-valid epoch and the pure training time per epoch.

Run it inside the separate RecBole environment (``benchmarks/recbole_venv.sh`` builds it); it
never imports contrastlearn::

    /work/venvs/recbole/bin/python benchmarks/recbole_side_by_side.py \
        --split-dir /path/to/split --dataset ml-100k-split \
        --models LightGCN SGL --epochs 300 --seeds 0 1 2

``--split-dir`` holds ``<dataset>.train.inter``, ``<dataset>.valid.inter`` and
``<dataset>.test.inter``: RecBole atomic files (tab separated) whose header is
``user_id:token  item_id:token  rating:float  timestamp:float``. Only user and item ids are
loaded, so every interaction counts as a positive whatever its rating. Evaluation follows
RecBole's full-sort protocol: validation ranks all items except the user's training items,
test ranks all items except the user's training and validation items.

Models: any RecBole 1.2.1 general recommender (LightGCN, SGL, NCL, NGCF, ...). SimGCL and
LightGCL are not part of RecBole 1.2.1 (they live in RecBole-GNN, which is not on PyPI).
Hyper-parameters are RecBole's defaults for each model unless ``--config key=value`` overrides
them. The validation metric (early stopping and model selection) is NDCG@20 rather than
RecBole's default MRR@10.

RecBole writes logs to ``./log``, TensorBoard files to ``./log_tensorboard`` and checkpoints to
``checkpoint_dir``; all of them go to a temporary directory (or ``--work-dir``), never the repo.
RecBole's checkpoints are pickles of its config, so ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` is set
before RecBole reloads the best checkpoint this script itself wrote.

References: He et al., 2020, "LightGCN", arXiv:2002.02126; Wu et al., 2021, "Self-supervised
Graph Learning for Recommendation" (SGL), arXiv:2010.10783; Zhao et al., 2021, "RecBole",
arXiv:2011.01731; Xu et al., 2022, "RecBole 2.0", arXiv:2206.07351.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime
import json
import logging
import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import recbole
import torch
import yaml
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.utils import get_model, get_trainer, init_logger, init_seed

SPLIT_PARTS = ("train", "valid", "test")
REQUIRED_COLUMNS = ("user_id:token", "item_id:token")
TOPK = [10, 20, 50]
METRICS = ["Recall", "NDCG", "Hit"]
VALID_METRIC = "NDCG@20"
NOT_IN_RECBOLE = {
    "SimGCL": "SimGCL (Yu et al., 2022, arXiv:2112.08679)",
    "LightGCL": "LightGCL (Cai et al., 2023, arXiv:2302.08191)",
}
TRAINING_KEYS = (
    "epochs",
    "train_batch_size",
    "learner",
    "learning_rate",
    "weight_decay",
    "train_neg_sample_args",
    "eval_step",
    "stopping_step",
    "eval_batch_size",
    "valid_metric",
    "topk",
    "metrics",
)
DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "results" / "recbole_ml100k.jsonl"


def parse_override(text: str) -> tuple[str, Any]:
    """Turn ``key=value`` into a config entry; the value is a Python literal or else a string."""
    key, separator, raw = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(
            f"--config expects key=value (e.g. learning_rate=0.002), got {text!r}"
        )
    try:
        value: Any = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def check_model_names(models: list[str]) -> None:
    """Fail before any training if a model is missing from RecBole 1.2.1, saying why."""
    for name in models:
        if name in NOT_IN_RECBOLE:
            raise SystemExit(
                f"{NOT_IN_RECBOLE[name]} is not part of RecBole {recbole.__version__}: it is "
                "implemented in RecBole-GNN, which is not published on PyPI. Drop it from "
                "--models (RecBole's own graph models include LightGCN, SGL, NCL, NGCF, DGCF)."
            )
        try:
            get_model(name)
        except (ValueError, AttributeError) as error:
            raise SystemExit(
                f"RecBole {recbole.__version__} has no model {name!r} ({error}); "
                "model names are case sensitive, e.g. LightGCN, SGL, NCL."
            ) from error


def check_split_dir(split_dir: pathlib.Path, dataset: str) -> dict[str, int]:
    """Check the three atomic files exist with the needed columns; return their row counts."""
    counts = {}
    for part in SPLIT_PARTS:
        path = split_dir / f"{dataset}.{part}.inter"
        if not path.is_file():
            raise SystemExit(
                f"missing {path}: --split-dir must hold {dataset}.train.inter, "
                f"{dataset}.valid.inter and {dataset}.test.inter (or pass the matching --dataset)"
            )
        with path.open() as handle:
            header = handle.readline().rstrip("\n").split("\t")
            rows = sum(1 for line in handle if line.strip())
        missing = [column for column in REQUIRED_COLUMNS if column not in header]
        if missing:
            raise SystemExit(
                f"{path} header {header} lacks {missing}: write a tab-separated header such as "
                "'user_id:token\titem_id:token\trating:float\ttimestamp:float'"
            )
        counts[part] = rows
    return counts


def link_dataset(split_dir: pathlib.Path, dataset: str, work_dir: pathlib.Path) -> pathlib.Path:
    """Expose the split as ``<work_dir>/data/<dataset>/`` (RecBole's layout) via symlinks."""
    folder = work_dir / "data" / dataset
    folder.mkdir(parents=True, exist_ok=True)
    for part in SPLIT_PARTS:
        name = f"{dataset}.{part}.inter"
        link = folder / name
        if not link.exists():
            link.symlink_to((split_dir / name).resolve())
    return work_dir / "data"


def model_default_keys(model: str) -> list[str]:
    """Names of the hyper-parameters RecBole's own YAML file declares for ``model``."""
    path = pathlib.Path(recbole.__file__).parent / "properties" / "model" / f"{model}.yaml"
    if not path.is_file():
        return []
    with path.open() as handle:
        return list((yaml.safe_load(handle) or {}).keys())


def base_config(
    dataset: str, data_path: pathlib.Path, checkpoint_dir: pathlib.Path, seed: int
) -> dict[str, Any]:
    """Settings shared by every run: the fixed split, full-sort ranking, CPU, seeding."""
    return {
        "dataset": dataset,
        "data_path": str(data_path),
        "benchmark_filename": list(SPLIT_PARTS),
        "load_col": {"inter": list(column.split(":")[0] for column in REQUIRED_COLUMNS)},
        "eval_args": {"group_by": "user", "order": "RO", "mode": "full"},
        "metrics": METRICS,
        "topk": TOPK,
        "valid_metric": VALID_METRIC,
        "seed": seed,
        "reproducibility": True,
        "use_gpu": False,
        "checkpoint_dir": str(checkpoint_dir),
        "show_progress": False,
        "log_wandb": False,
        "save_dataset": False,
        "save_dataloaders": False,
    }


def timed_trainer_class(base: type) -> type:
    """Subclass RecBole's trainer to time training epochs alone and note the best epoch."""

    class TimedTrainer(base):
        def __init__(self, config: Config, model: torch.nn.Module) -> None:
            super().__init__(config, model)
            self.train_epoch_seconds: list[float] = []
            self.valid_epoch_seconds: list[float] = []
            self.best_valid_epoch: int | None = None

        def _train_epoch(self, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            loss = super()._train_epoch(*args, **kwargs)
            self.train_epoch_seconds.append(time.perf_counter() - start)
            return loss

        def _valid_epoch(self, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            result = super()._valid_epoch(*args, **kwargs)
            self.valid_epoch_seconds.append(time.perf_counter() - start)
            return result

        def _save_checkpoint(self, epoch: int, *args: Any, **kwargs: Any) -> None:
            # RecBole saves exactly when the validation score ties or beats the best so far.
            if epoch >= 0:
                self.best_valid_epoch = epoch
            super()._save_checkpoint(epoch, *args, **kwargs)

    TimedTrainer.__name__ = f"Timed{base.__name__}"
    return TimedTrainer


@contextlib.contextmanager
def inside(directory: pathlib.Path) -> Iterator[None]:
    """Run with ``directory`` as working directory: RecBole writes logs relative to it."""
    previous = pathlib.Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)


def as_floats(result: dict[str, Any] | None) -> dict[str, float]:
    return {key: float(value) for key, value in (result or {}).items()}


def run_once(
    model_name: str,
    seed: int,
    epochs: int | None,
    overrides: dict[str, Any],
    dataset: str,
    data_path: pathlib.Path,
    work_dir: pathlib.Path,
) -> dict[str, Any]:
    """Train and test one model with one seed, following RecBole's own run_recbole order."""
    checkpoint_dir = work_dir / "saved" / f"{model_name}-seed{seed}"
    config_dict = base_config(dataset, data_path, checkpoint_dir, seed)
    if epochs is not None:
        config_dict["epochs"] = epochs
    config_dict.update(overrides)
    load_before = os.getloadavg()
    # RecBole's Config also reads --key=value pairs from sys.argv; hide this script's own.
    own_argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        config = Config(model=model_name, dataset=dataset, config_dict=config_dict)
    finally:
        sys.argv = own_argv
    init_seed(config["seed"], config["reproducibility"])
    logging.getLogger().handlers.clear()  # one log file per run, not the first run's file
    init_logger(config)
    recbole_dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, recbole_dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = timed_trainer_class(get_trainer(config["MODEL_TYPE"], config["model"]))(config, model)
    fit_start = time.perf_counter()
    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, saved=True, show_progress=False
    )
    fit_seconds = time.perf_counter() - fit_start
    test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    train_seconds = trainer.train_epoch_seconds
    hyper_keys = model_default_keys(model_name) + list(TRAINING_KEYS)
    return {
        "library": "recbole",
        "recbole_version": recbole.__version__,
        "torch_version": torch.__version__,
        "model": model_name,
        "dataset": dataset,
        "seed": seed,
        "interactions": {
            "users": recbole_dataset.user_num - 1,
            "items": recbole_dataset.item_num - 1,
            "train": len(train_data.dataset),
            "valid": len(valid_data.dataset),
            "test": len(test_data.dataset),
        },
        "epochs_requested": config["epochs"],
        "epochs_run": len(train_seconds),
        "best_valid_epoch": trainer.best_valid_epoch,
        "valid_metric": config["valid_metric"],
        "best_valid_score": float(best_valid_score),
        "valid": as_floats(best_valid_result),
        "test": as_floats(test_result),
        "train_seconds_total": sum(train_seconds),
        "train_seconds_per_epoch": sum(train_seconds) / max(len(train_seconds), 1),
        "train_seconds_epochs": [round(seconds, 4) for seconds in train_seconds],
        "valid_seconds_total": sum(trainer.valid_epoch_seconds),
        "fit_seconds_total": fit_seconds,
        "hyper_parameters": {key: config[key] for key in hyper_keys},
        "overrides": overrides,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "loadavg_before": list(load_before),
        "loadavg_after": list(os.getloadavg()),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'model':<10} {'seed':>4} {'ep':>4} {'best':>4} "
        f"{'R@10':>7} {'R@20':>7} {'R@50':>7} {'N@10':>7} {'N@20':>7} {'N@50':>7} "
        f"{'H@20':>7} {'s/ep':>7} {'load1':>6}"
    )
    print(header)
    for row in rows:
        test = row["test"]
        print(
            f"{row['model']:<10} {row['seed']:>4} {row['epochs_run']:>4} "
            f"{row['best_valid_epoch'] if row['best_valid_epoch'] is not None else '-':>4} "
            + " ".join(
                f"{test.get(key, float('nan')):>7.4f}"
                for key in (
                    "recall@10",
                    "recall@20",
                    "recall@50",
                    "ndcg@10",
                    "ndcg@20",
                    "ndcg@50",
                    "hit@20",
                )
            )
            + f" {row['train_seconds_per_epoch']:>7.2f} {row['loadavg_after'][0]:>6.2f}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--split-dir",
        type=pathlib.Path,
        required=True,
        help="folder with <dataset>.{train,valid,test}.inter",
    )
    parser.add_argument(
        "--dataset",
        default="ml-100k-split",
        help="dataset name, the files' prefix (default ml-100k-split)",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=["LightGCN", "SGL"],
        help="RecBole model names (default LightGCN SGL)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs per run (default: RecBole's 300, early stopping after 10 "
        "validations without improvement)",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="RecBole seeds (default 0 1 2)"
    )
    parser.add_argument(
        "--config",
        type=parse_override,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="RecBole setting overriding the defaults, repeatable "
        "(e.g. --config learning_rate=0.002 --config n_layers=3)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads before training (default: torch's own)",
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=DEFAULT_OUT,
        help=f"JSON-lines file appended to (default {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--work-dir",
        type=pathlib.Path,
        default=None,
        help="keep RecBole's logs and checkpoints here (default: temporary)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # Read by torch.load at call time; only this run's own checkpoints are loaded.
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    check_model_names(args.models)
    split_dir = args.split_dir.resolve()
    counts = check_split_dir(split_dir, args.dataset)
    print(f"split {split_dir}: {counts}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    overrides = dict(args.config)
    rows = []
    with contextlib.ExitStack() as stack:
        if args.work_dir is None:
            work_dir = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            work_dir = args.work_dir.resolve()
            work_dir.mkdir(parents=True, exist_ok=True)
        data_path = link_dataset(split_dir, args.dataset, work_dir)
        stack.enter_context(inside(work_dir))
        for model_name in args.models:
            for seed in args.seeds:
                row = run_once(
                    model_name, seed, args.epochs, overrides, args.dataset, data_path, work_dir
                )
                row["split_dir"] = str(split_dir)
                with out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                rows.append(row)
                print(
                    f"{model_name} seed {seed}: ndcg@20 {row['test'].get('ndcg@20')} "
                    f"recall@20 {row['test'].get('recall@20')} "
                    f"{row['train_seconds_per_epoch']:.2f} s/epoch",
                    flush=True,
                )
        logging.getLogger().handlers.clear()
    print_table(rows)
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()
