"""The Modality registry: self-loading, optional rooms, entry points, options schemas."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from contrastlearn import plugins
from contrastlearn.config import RecipeError, load_recipe, recipe_from_dict
from contrastlearn.core.registry import MODALITIES, Registry
from contrastlearn.data.arrays import DataError
from contrastlearn.data.modality import Modality
from contrastlearn.data.resolve import get_modality


def test_a_fresh_process_lists_every_builtin_on_first_read():
    code = ("from contrastlearn.core.registry import METHODS, MODALITIES;"
            "print(sorted(METHODS.names())); print(MODALITIES.names())")
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    assert {"simclr", "ts2vec", "simcse", "moco_v2"} <= set(eval(printed[0]))
    assert {"image", "timeseries", "text"} <= set(eval(printed[1]))


def test_a_room_whose_dependency_is_missing_says_how_to_install_it(monkeypatch):
    fresh = Registry("modality")
    monkeypatch.setattr(plugins, "MODALITIES", fresh)

    def missing(name):
        raise ModuleNotFoundError("No module named 'tokenizers'", name="tokenizers")

    monkeypatch.setattr(plugins, "importlib", SimpleNamespace(import_module=missing))
    plugins._register_builtin_room("text", "text")
    with pytest.raises(KeyError, match=r"not available.*'tokenizers'.*contrastlearn\[text\]"):
        fresh.get("text")
    assert "text" not in fresh and "text" in fresh.unavailable()


def test_a_broken_room_of_our_own_is_not_hidden(monkeypatch):
    def broken(name):
        raise ModuleNotFoundError("No module named 'contrastlearn.nowhere'",
                                  name="contrastlearn.nowhere")

    monkeypatch.setattr(plugins, "importlib", SimpleNamespace(import_module=broken))
    with pytest.raises(ModuleNotFoundError, match="contrastlearn.nowhere"):
        plugins._register_builtin_room("text", "text")


def test_entry_point_rooms_are_registered(monkeypatch):
    fresh = Registry("modality")
    room = Modality(name="toy", split_arrays=lambda *a, **k: None, to_samples=lambda x, **k: x)
    point = SimpleNamespace(load=lambda: room)
    monkeypatch.setattr(plugins, "MODALITIES", fresh)
    monkeypatch.setattr(plugins, "entry_points", lambda group: [point]
                        if group == plugins.ENTRY_POINT_GROUP else [])
    plugins._register_entry_point_rooms()
    assert fresh.get("toy") is room


def test_unknown_modality_in_a_recipe_names_the_key_and_the_known_ones():
    with pytest.raises(RecipeError, match=r"data\.modality.*'graphs'.*image.*text.*timeseries"):
        recipe_from_dict({"data": {"modality": "graphs"}})
    with pytest.raises(DataError, match="unknown modality 'graphs'"):
        get_modality("graphs")


def test_modality_options_are_checked_against_the_room_schema():
    text = load_recipe("simcse").model_dump()
    text["data"]["options"] = {"encoding": "latin-1", "bucket_by_length": False}
    assert recipe_from_dict(text).data.options["encoding"] == "latin-1"
    text["data"]["options"] = {"encodng": "latin-1"}
    with pytest.raises(RecipeError, match=r"unknown key 'data\.options\.encodng' for the text "
                                          r"modality; accepted: encoding"):
        recipe_from_dict(text)
    image = load_recipe("digits-simclr").model_dump()
    image["data"]["options"] = {"encoding": "latin-1"}
    with pytest.raises(RecipeError, match="accepted: image_size"):
        recipe_from_dict(image)
    series = load_recipe("ts2vec").model_dump()
    series["data"]["options"] = {"image_size": 8}
    with pytest.raises(RecipeError, match=r"for the timeseries modality; accepted: \(none\)"):
        recipe_from_dict(series)


def test_old_flat_options_point_to_their_new_place():
    with pytest.raises(RecipeError, match=r"unknown key 'data\.encoding' \(a modality's own "
                                          r"keys go under data\.options\)"):
        recipe_from_dict({"data": {"encoding": "latin-1"}})


def test_every_builtin_room_is_one_registered_modality():
    for name in ("image", "timeseries", "text"):
        modality = MODALITIES.get(name)
        assert isinstance(modality, Modality) and modality.name == name
        assert modality.default_recipe is not None
        assert load_recipe(modality.default_recipe).data.modality == name


def test_datasets_lists_rooms_that_are_not_installed(monkeypatch, capsys):
    from contrastlearn.cli import main

    monkeypatch.setattr(MODALITIES, "_unavailable",
                        {"audio": "it needs the Python package 'julius': pip install ..."})
    assert main(["datasets"]) == 0
    assert "audio room not installed: it needs the Python package 'julius'" in \
        capsys.readouterr().out
