"""Every method trains on digits through the public API: finite, falling loss, an encoder."""

import pytest

import contrastlearn
from contrastlearn.config import recipe_from_dict
from tests.conftest import tiny_recipe_dict

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
    run = contrastlearn.pretrain(recipe_from_dict(raw), out=tmp_path / method, progress=False,
                                 evaluate_after=False)
    losses = [r["loss"] for r in run.training.history if "loss" in r]
    assert len(losses) == run.training.steps == 12
    assert all(loss == loss for loss in losses)
    # MoCo's loss first rises while its queue fills with negatives (2 steps of 64 keys here)
    first = 2 if method == "moco_v2" else 0
    assert min(losses[-3:]) < losses[first], losses
    assert (run.run_dir / "encoder" / "model.safetensors").is_file()
