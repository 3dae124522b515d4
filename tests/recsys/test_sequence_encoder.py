"""SASRec: shapes, causal and padding behaviour, the MASK row, truncation, bad inputs."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.recsys.batch import PAD, RecBatch
from contrastlearn.modalities.recsys.sequence_encoder import SASRec
from contrastlearn.modalities.recsys.sequence_views import MASK

NUM_ITEMS = 25


def model(**kwargs) -> SASRec:
    torch.manual_seed(0)
    settings = {"max_length": 6, "dim": 16, "layers": 2, "heads": 2, "dropout": 0.0}
    return SASRec(NUM_ITEMS, **{**settings, **kwargs})


def histories() -> torch.Tensor:
    return torch.tensor([[PAD, PAD, PAD, PAD, PAD, 3],
                         [PAD, PAD, 4, 9, 1, 7],
                         [2, 5, 8, 11, 13, 24],
                         [PAD, PAD, PAD, 0, MASK, 6]])


def test_shapes_and_interfaces_agree():
    encoder = model().eval()
    sequences = histories()
    batch = RecBatch(torch.arange(4), torch.zeros(4, dtype=torch.long), sequences)
    encoded = encoder(batch)
    assert encoded.shape == (4, 16) and encoder.out_dim == 16
    assert torch.equal(encoded, encoder.encode_sequences(sequences))
    assert torch.equal(encoded, encoder.user_representations(torch.arange(4), sequences))
    assert encoder.item_representations().shape == (NUM_ITEMS, 16)
    assert torch.equal(encoder.item_representations(),
                       encoder.item_embedding.weight[:NUM_ITEMS])


def test_registered_and_accepts_the_data_sizes_of_every_recsys_encoder():
    assert ENCODERS.get("sasrec") is SASRec
    encoder = SASRec(num_items=NUM_ITEMS, num_users=7, num_edges=100, max_length=4, dim=8)
    assert encoder.position_embedding.num_embeddings == 4


def test_padding_does_not_leak_into_the_encoding():
    encoder = model().eval()
    sequences = histories()
    narrow = sequences[:, -4:]  # rows 0, 1 and 3 lose only padding
    wide = encoder.encode_sequences(sequences)
    assert torch.allclose(encoder.encode_sequences(narrow)[[0, 1, 3]], wide[[0, 1, 3]],
                          atol=1e-6)


def test_train_mode_without_dropout_matches_eval_mode():
    encoder = model()
    trained = encoder.encode_sequences(histories())
    assert torch.allclose(trained, encoder.eval().encode_sequences(histories()), atol=1e-5)


def test_every_item_of_the_history_reaches_the_last_position():
    encoder = model().eval()
    sequences = histories()
    changed = sequences.clone()
    changed[2, 0] = 20  # the oldest item of a full history
    encoded, encoded_changed = encoder.encode_sequences(sequences), encoder.encode_sequences(
        changed)
    assert not torch.allclose(encoded[2], encoded_changed[2])
    assert torch.allclose(encoded[[0, 1, 3]], encoded_changed[[0, 1, 3]])


def test_wider_histories_keep_their_last_max_length_items():
    encoder = model(max_length=4).eval()
    sequences = histories()
    assert torch.allclose(encoder.encode_sequences(sequences),
                          encoder.encode_sequences(sequences[:, -4:]))


def test_mask_has_its_own_learned_row_and_padding_none():
    encoder = model()
    sequences = histories()
    as_padding = sequences.masked_fill(sequences == MASK, PAD)
    assert not torch.allclose(encoder.encode_sequences(sequences)[3],
                              encoder.encode_sequences(as_padding)[3])
    (encoder.encode_sequences(sequences) * torch.randn(4, 16)).sum().backward()
    gradient = encoder.item_embedding.weight.grad
    assert gradient[encoder.mask_row].abs().sum() > 0
    assert gradient[encoder.padding_row].abs().sum() == 0
    assert torch.all(encoder.item_embedding.weight[encoder.padding_row] == 0)


def test_an_empty_history_encodes_to_finite_values_with_finite_gradients():
    encoder = model()
    empty = torch.full((2, 6), PAD)
    encoded = encoder.encode_sequences(empty)
    assert torch.isfinite(encoded).all()
    (encoded * torch.randn(2, 16)).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters() if p.grad is not None)


def test_bad_inputs_raise_clear_errors():
    encoder = model()
    with pytest.raises(ValueError, match="max_length"):
        encoder(RecBatch(torch.arange(2), torch.arange(2)))
    with pytest.raises(ValueError, match="max_length"):
        encoder.user_representations(torch.arange(2))
    with pytest.raises(ValueError, match="outside"):
        encoder.encode_sequences(torch.tensor([[PAD, NUM_ITEMS]]))
    with pytest.raises(ValueError, match="outside"):
        encoder.encode_sequences(torch.tensor([[-5, 1]]))
    with pytest.raises(ValueError, match=r"\(B, L\)"):
        encoder.encode_sequences(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="multiple of heads"):
        SASRec(NUM_ITEMS, dim=10, heads=3)
    with pytest.raises(ValueError, match=">= 1"):
        SASRec(0)
    with pytest.raises(ValueError, match="dropout"):
        SASRec(NUM_ITEMS, dropout=1.0)
