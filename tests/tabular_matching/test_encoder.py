"""The row encoder: shapes, order-free pooling, blank fields, rebuilding from its kwargs."""

from __future__ import annotations

import json

import pytest
import torch

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.tabular.matching.chars import PAD, encode_table
from contrastlearn.modalities.tabular.matching.encoder import RowEncoder
from tests.tabular_matching.fixtures import places

pytestmark = pytest.mark.usefixtures("one_thread")
ROWS = encode_table(places(16), max_chars=24)
SETTINGS = [{"reader": "ngrams"}, {"reader": "cnn", "width": 16},
            {"reader": "ngrams", "pooling": "mean"}]
SMALL = {"char_dim": 16, "field_dim": 32, "out_dim": 8, "buckets": 512}


def build(**settings) -> RowEncoder:
    torch.manual_seed(0)
    return RowEncoder(**{**SMALL, **settings}).eval()


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
def test_rows_become_vectors_whatever_the_field_order(settings):
    encoder = build(**settings)
    with torch.no_grad():
        embedded = encoder(ROWS)
        reordered = encoder(ROWS[:, torch.randperm(ROWS.shape[1])])
    assert embedded.shape == (16, encoder.out_dim) and torch.isfinite(embedded).all()
    torch.testing.assert_close(reordered, embedded)


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
def test_a_blank_field_is_left_out_and_a_blank_row_is_finite(settings):
    encoder = build(**settings)
    blank = torch.zeros_like(ROWS[:, :1])
    with torch.no_grad():
        torch.testing.assert_close(encoder(torch.cat([ROWS, blank], dim=1)), encoder(ROWS))
        assert torch.isfinite(encoder(torch.zeros(2, 3, 5, dtype=torch.long))).all()


def test_any_field_width_is_read():
    encoder = build()
    with torch.no_grad():
        assert encoder(encode_table(places(4), max_chars=7)).shape == (4, 8)


def test_ngram_ids_hash_each_characters_ngram_and_leave_padding_out():
    encoder = build()
    ids = encoder.ngram_ids(torch.tensor([[97, 98, 99, 0], [97, 98, 99, 100]]))
    assert bool((ids[0, :3] > 0).all()) and int(ids[0, 3]) == PAD
    assert ids[:, :2].tolist()[0] == ids[:, :2].tolist()[1], "same prefix, same n-grams"
    assert int(ids[0, 2]) != int(ids[1, 2]), "'bc' then the end is not 'bcd'"
    assert int(ids.max()) <= encoder.buckets


def test_kwargs_are_json_and_rebuild_the_same_encoder():
    settings = {**SMALL, "reader": "cnn", "width": 16}
    original = build(reader="cnn", width=16)
    rebuilt = ENCODERS.build("row_encoder", **json.loads(json.dumps(settings)))
    rebuilt.load_state_dict(original.state_dict())
    rebuilt.eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(ROWS), original(ROWS))
    assert RowEncoder.modality == "tabular"


def test_gradients_reach_the_character_features():
    encoder = build()
    encoder.train()
    encoder(ROWS).square().sum().backward()
    assert encoder.ngrams.weight.grad is not None and encoder.ngrams.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(("rows", "match"), [
    (torch.zeros(2, 3), "int64 character codes"),
    (torch.full((2, 3, 4), 300), r"character codes in \[0, 256\)"),
])
def test_bad_input_is_refused_with_the_fix(rows, match):
    with pytest.raises(ValueError, match=match):
        build()(rows)


@pytest.mark.parametrize(("settings", "match"), [({"reader": "lstm"}, "reader must be one of"),
                                                 ({"pooling": "max"}, "pooling must be one of"),
                                                 ({"ngram": 1}, "ngram must be >= 2")])
def test_bad_settings_name_the_choices(settings, match):
    with pytest.raises(ValueError, match=match):
        RowEncoder(**settings)
