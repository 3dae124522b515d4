"""The graph recipe's `data.options`: defaults, refusals, and how loaders take the options
they accept (a dataset's own default held-out fraction survives the recipe's defaults)."""

import inspect

import pytest
from pydantic import ValidationError

pytest.importorskip("torch_geometric")
pytest.importorskip("networkx")

from contrastlearn.data.modality import call_with_accepted  # noqa: E402
from contrastlearn.modalities.graph.builtin import load_karate  # noqa: E402
from contrastlearn.modalities.graph.options import GraphOptions  # noqa: E402


def test_defaults_and_every_field_is_documented():
    options = GraphOptions()
    assert (options.features, options.feature_dim, options.num_hops, options.text_views) == (
        "tfidf", 256, 2, 0)
    assert options.held_out_edges is None and options.part_of_speech is None
    assert options.allow_self_loops is False and options.directed is False
    source = inspect.getsource(GraphOptions)
    for name in GraphOptions.model_fields:
        line_after_field = source.split(f"\n    {name}:", 1)[1].split("\n")[1]
        assert line_after_field.strip().startswith('"""'), f"{name} has no docstring"


@pytest.mark.parametrize("options", [
    {"held_out_edges": 0.5}, {"held_out_edges": -0.1}, {"feature_dim": 0},
    {"features": "bow"}, {"part_of_speech": ["nouns"]}, {"text_views": -1}, {"header": True},
])
def test_bad_options_are_refused(options):
    with pytest.raises(ValidationError):
        GraphOptions(**options)


def test_loaders_take_the_options_they_accept_and_keep_their_own_defaults():
    recipe_options = GraphOptions(part_of_speech=["noun"]).model_dump()
    splits = call_with_accepted(load_karate, options=recipe_options, holdout_fraction=0.2,
                                seed=0)
    assert splits.info["num_held_out_edges"] == 0  # held_out_edges unset: karate's default
    recipe_options = GraphOptions(held_out_edges=0.1).model_dump()
    splits = call_with_accepted(load_karate, options=recipe_options, holdout_fraction=0.2,
                                seed=0)
    assert splits.info["num_held_out_edges"] == 8
