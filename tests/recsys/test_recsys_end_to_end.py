"""A recommender learns through the public API and the CLI: trained beats untrained and
most-popular ranking on data whose structure only personalisation can find."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import contrastlearn
from contrastlearn.api import build_encoder, load_run_data
from contrastlearn.cli import main
from contrastlearn.config import recipe_from_dict
from contrastlearn.modalities.recsys.builtin import _ml100k_available
from tests.conftest import require_system_data

pytestmark = pytest.mark.usefixtures("no_report")

GROUPS, USERS_PER_GROUP, ITEMS_PER_GROUP, PER_USER = 4, 30, 20, 12


def grouped_rows(seed: int = 0) -> np.ndarray:
    """Users in 4 taste groups, each rating 12 of its group's 20 items: every group's items
    are equally popular overall, so most-popular ranking cannot tell the groups apart."""
    rng = np.random.default_rng(seed)
    rows = []
    for group in range(GROUPS):
        for member in range(USERS_PER_GROUP):
            user = group * USERS_PER_GROUP + member
            items = group * ITEMS_PER_GROUP + rng.choice(ITEMS_PER_GROUP, PER_USER,
                                                         replace=False)
            rows += [(user, int(item), 5, index) for index, item in enumerate(items)]
    return np.array(rows)


def recipe(method: str = "lightgcn_bpr", encoder: str = "lightgcn",
           views: str = "rec_identity_views", epochs: int = 30, options: dict | None = None,
           **kwargs) -> dict:
    return {
        "name": f"tiny-{method}", "seed": 0,
        "data": {"dataset": "ml-100k", "modality": "recsys", "options": options or {}},
        "views": {"name": views},
        "encoder": {"name": encoder, "kwargs": {"dim": 16, **kwargs}},
        "method": {"name": method},
        "train": {"epochs": epochs, "batch_size": 128, "lr": 0.01, "warmup_epochs": 0,
                  "min_lr_ratio": 1.0, "log_every_steps": 10, "accelerator": "cpu",
                  "weight_decay": 0.0},
        "eval": {"protocols": [], "raw_baseline": False},
    }


def metric(results, name: str, representation: str = "encoder", split: str | None = None):
    return next(result.value for result in results
                if result.metric == name and result.protocol == "full_sort"
                and result.settings["representation"] == representation
                and (split is None or result.split == split) and result.split != "valid")


def test_lightgcn_learns_and_recommends(tmp_path):
    torch.manual_seed(0)
    rows = grouped_rows()
    run = contrastlearn.pretrain(recipe_from_dict(recipe()), dataset=rows, out=tmp_path / "run",
                                 progress=False)
    trained = metric(run.results, "recall@10")
    popular = metric(run.results, "recall@10", "most popular")
    splits = load_run_data(run.recipe, rows)
    torch.manual_seed(0)
    untrained, _ = build_encoder(run.recipe, splits)
    untrained.set_graph(splits.train.graph)
    before = metric(splits.extras["ranking"].evaluate(untrained), "recall@10")
    assert trained > before + 0.2 and trained > popular + 0.2
    assert run.results[0].settings["num_items"] == GROUPS * ITEMS_PER_GROUP

    # in-memory data: recommend is given the rows again
    top = contrastlearn.recommend(run.run_dir, "0", k=5, dataset=rows)
    group_items = {str(item) for item in range(ITEMS_PER_GROUP)}
    assert sum(row["item"] in group_items for row in top) >= 4
    known = set(splits.extras["ranking"].train.items[splits.extras["ranking"].train.users == 0]
                .tolist())
    assert not {int(row["item"]) for row in top} & known


def test_sasrec_learns_a_next_item_rule(tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    rows = []
    for user in range(60):  # each user walks item i -> i + 1 (mod 30) from a random start
        start = int(rng.integers(30))
        rows += [(user, (start + step) % 30, 5, step) for step in range(10)]
    settings = recipe("sasrec_ce", "sasrec", epochs=15, options={"split": "time",
                                                                  "max_length": 5},
                      layers=1, heads=1, dropout=0.0)
    run = contrastlearn.pretrain(recipe_from_dict(settings), dataset=np.array(rows),
                                 out=tmp_path / "run", progress=False)
    assert metric(run.results, "hit@10") > 0.8 > metric(run.results, "hit@10", "most popular")


def test_recommend_command_on_a_shipped_dataset(tmp_path, capsys):
    available, install = _ml100k_available()
    require_system_data(available, install)
    out = tmp_path / "run"
    contrastlearn.pretrain(recipe_from_dict(recipe(epochs=1)), out=out, progress=False,
                           evaluate_after=False)
    assert main(["recommend", str(out), "--user", "196", "--k", "3"]) == 0
    printed = capsys.readouterr().out
    assert "top 3 items for user 196" in printed and len(printed.strip().splitlines()) == 4
    assert main(["recommend", str(out), "--user", "no-such-user"]) != 0
    assert "unknown user id 'no-such-user'" in capsys.readouterr().err
