import pytest

from contrastlearn.core.registry import (
    AUGMENTATIONS,
    DATASETS,
    ENCODERS,
    EVALUATORS,
    HEADS,
    METHODS,
    OBJECTIVES,
    Registry,
)


def test_register_build_and_errors():
    registry = Registry("widget")

    @registry.register("double")
    def double(value: int = 1) -> int:
        """Doubles a value."""
        return 2 * value

    assert registry.build("double", value=4) == 8
    assert "double" in registry and registry.names() == ["double"]
    assert registry.describe("double") == "Doubles a value."
    with pytest.raises(KeyError, match="Did you mean 'double'"):
        registry.get("doubel")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("double")(lambda: 0)


def test_all_plugin_kinds_are_populated():
    assert {"simclr", "moco_v2", "byol", "simsiam", "barlow_twins", "vicreg", "swav", "supcon",
            "dcl"} <= set(METHODS.names())
    assert {"infonce", "dcl", "supcon", "barlow_twins", "vicreg", "swav",
            "negative_cosine"} <= set(OBJECTIVES.names())
    assert {"resnet18", "resnet34", "resnet50", "small_cnn", "mlp"} <= set(ENCODERS.names())
    assert {"projection_mlp", "prediction_mlp", "swav_prototypes"} <= set(HEADS.names())
    assert {"simclr_views", "byol_views", "swav_views"} <= set(AUGMENTATIONS.names())
    assert {"digits", "fashion-mnist"} <= set(DATASETS.names())
    assert {"linear_probe", "knn", "few_label"} <= set(EVALUATORS.names())
