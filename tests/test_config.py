import pytest

from contrastlearn.config import (
    RecipeError,
    apply_overrides,
    load_recipe,
    recipe_from_dict,
    shipped_recipes,
)


def test_every_shipped_recipe_validates():
    names = shipped_recipes()
    assert "digits-simclr" in names and "fashion-mnist-simclr" in names
    for name in names:
        assert load_recipe(name).name == name


def test_default_recipe_is_digits_simclr():
    recipe = load_recipe()
    assert recipe.data.dataset == "digits" and recipe.method.name == "simclr"


def test_unknown_key_names_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochz: 3\n")
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert "train.epochz" in str(error.value) and "bad.yaml" in str(error.value)


def test_wrong_type_names_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: many\n")
    with pytest.raises(RecipeError, match="train.epochs"):
        load_recipe(path)


def test_invalid_yaml_and_missing_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(path)
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(RecipeError, match="unknown recipe"):
        load_recipe("no-such-recipe")


def test_overrides_apply_and_validate():
    recipe = apply_overrides(load_recipe(), {"train.epochs": 5, "train.batch_size": 128,
                                             "train.max_steps": None})
    assert recipe.train.epochs == 5 and recipe.train.batch_size == 128
    assert recipe.train.max_steps is None
    with pytest.raises(RecipeError, match="train.epochs"):
        apply_overrides(recipe, {"train.epochs": 0})
    with pytest.raises(RecipeError, match="unknown key"):
        apply_overrides(recipe, {"train.nonsense": 1})


def test_recipe_from_dict_rejects_non_mapping():
    with pytest.raises(RecipeError, match="mapping"):
        recipe_from_dict([1, 2])


def test_component_names_and_kwargs_are_checked(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("method:\n  name: simclr\n  kwargs:\n    temprature: 0.1\n")
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert "method.kwargs.temprature" in str(error.value) and "typo.yaml" in str(error.value)
    path.write_text("encoder:\n  name: resnet19\n")
    with pytest.raises(RecipeError, match="encoder.name 'resnet19'"):
        load_recipe(path)


def test_devices_and_nodes_are_positive():
    recipe = apply_overrides(load_recipe(), {"train.devices": 4, "train.num_nodes": 2,
                                             "train.strategy": "ddp"})
    assert (recipe.train.devices, recipe.train.num_nodes) == (4, 2)
    for key in ("train.devices", "train.num_nodes", "train.accumulate_batches"):
        with pytest.raises(RecipeError, match=key):
            apply_overrides(load_recipe(), {key: 0})
    with pytest.raises(RecipeError, match="eval.ranks"):
        apply_overrides(load_recipe(), {"eval.ranks": "some"})
