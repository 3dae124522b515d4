"""Every method trains on digits through the public API: finite losses, below the same run's
with its training switched off, and an encoder."""

import pytest

import contrastlearn
from contrastlearn.config import recipe_from_dict
from tests.conftest import tiny_recipe_dict

pytestmark = pytest.mark.usefixtures("no_report")

METHOD_KWARGS = {
    "simclr": {"hidden_dim": 32},
    "moco_v2": {"hidden_dim": 32, "queue_size": 128},
    "byol": {"hidden_dim": 32, "predictor_hidden_dim": 32, "projection_dim": 16},
    "simsiam": {"hidden_dim": 32, "projection_dim": 32, "predictor_hidden_dim": 16},
    "barlow_twins": {"hidden_dim": 32, "projection_dim": 32},
    "vicreg": {"hidden_dim": 32, "projection_dim": 32},
    "swav": {"hidden_dim": 32, "num_prototypes": 12},
    "supcon": {"hidden_dim": 32},
    "dcl": {"hidden_dim": 32},
}


@pytest.mark.parametrize("method", sorted(METHOD_KWARGS))
def test_method_trains(tmp_path, method):
    raw = tiny_recipe_dict(method, **METHOD_KWARGS[method])
    raw["train"]["epochs"] = 3
    if method == "swav":
        raw["views"] = {"name": "swav_views",
                        "kwargs": {"global_size": 8, "local_size": 6, "num_local": 2}}
    recipe = recipe_from_dict(raw)
    run = contrastlearn.pretrain(recipe, out=tmp_path / method, progress=False,
                                 evaluate_after=False)
    losses = [r["loss"] for r in run.training.history if "loss" in r]
    assert len(losses) == run.training.steps == 12
    assert all(loss == loss for loss in losses)
    assert (run.run_dir / "encoder" / "model.safetensors").is_file()
    # the same run with its training switched off sees the same batches and views, so its
    # losses are the untrained method's on them (a falling loss alone would not do: MoCo's
    # rises while its queue fills, BYOL's falls as its target moves, SimSiam's drifts)
    still = contrastlearn.pretrain(recipe, out=tmp_path / "still", progress=False,
                                   evaluate_after=False, overrides={"train.lr": 1e-12})
    untrained = [r["loss"] for r in still.training.history if "loss" in r]
    assert losses[0] == pytest.approx(untrained[0])  # the same first batch, the same start
    assert sum(losses[-3:]) < sum(untrained[-3:]), (losses, untrained)
