import numpy as np
import pytest
import torch
from torch import nn

from contrastlearn.evaluation import extract_embeddings


def make_encoder():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.BatchNorm1d(8), nn.Dropout(0.5))
    encoder(torch.randn(32, 3, 4))  # give batch norm non-trivial running statistics
    return encoder


def test_matches_eval_mode_forward_and_restores_training_mode():
    encoder = make_encoder()
    data = torch.randn(23, 3, 4)
    embeddings = extract_embeddings(encoder, data, batch_size=5)
    assert encoder.training
    encoder.eval()
    with torch.no_grad():
        expected = encoder(data)
    torch.testing.assert_close(embeddings, expected)
    assert embeddings.shape == (23, 8) and not embeddings.requires_grad

    extract_embeddings(encoder, data)
    assert not encoder.training  # an encoder in eval mode stays in eval mode


def test_numpy_input_and_tuple_output():
    class TupleEncoder(nn.Module):
        def forward(self, x):
            return x.sum(dim=2), x

    data = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    embeddings = extract_embeddings(TupleEncoder(), data, batch_size=3)
    torch.testing.assert_close(embeddings, torch.from_numpy(data).sum(dim=2))


def test_bad_encoder_output_and_inputs():
    with pytest.raises(ValueError, match=r"encoder output must be \(batch, dim\)"):
        extract_embeddings(nn.Identity(), torch.randn(4, 2, 3))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        extract_embeddings(nn.Identity(), torch.randn(4, 2), batch_size=0)
    with pytest.raises(ValueError, match="no samples"):
        extract_embeddings(nn.Identity(), torch.randn(0, 2))
    with pytest.raises(ValueError, match="tensor or numpy array"):
        extract_embeddings(nn.Identity(), [[1.0, 2.0]])


def test_training_mode_restored_after_error():
    encoder = nn.Sequential(nn.Dropout(0.1))
    with pytest.raises(ValueError):
        extract_embeddings(encoder, torch.randn(3, 2, 2))
    assert encoder.training
