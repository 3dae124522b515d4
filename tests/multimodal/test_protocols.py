"""The cross-modal protocols on embeddings whose answers are known."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastlearn.data.arrays import ArrayDataset
from contrastlearn.modalities.multimodal.data import MultimodalDataset
from contrastlearn.modalities.multimodal.protocols import CrossModalProtocols, distinct_rows


class Identity(nn.Module):
    """Each modality's samples are its embeddings."""

    names = ["image", "timeseries", "audio"]

    def embed(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return x.float()


def records(labels: torch.Tensor, noise: float = 0.01) -> MultimodalDataset:
    generator = torch.Generator().manual_seed(0)
    exact = F.one_hot(labels, 3).float()
    noisy = exact + noise * torch.randn(exact.shape, generator=generator)
    parts = {"image": ArrayDataset(noisy), "timeseries": ArrayDataset(noisy.flip(0).flip(0)),
             "audio": ArrayDataset(exact)}  # every record of a class has the same clip
    return MultimodalDataset(torch.arange(len(labels), dtype=torch.float32), labels,
                             torch.arange(len(labels)), "records", parts=parts)


def test_distinct_rows_keeps_the_first_of_identical_inputs_of_one_id():
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    assert distinct_rows(rows, torch.tensor([0, 1, 0, 2])).tolist() == [0, 1, 3]


def test_joint_retrieval_finds_the_class_of_duplicated_candidates():
    labels = torch.arange(12) % 3
    data = records(labels)
    results = CrossModalProtocols(data, data).evaluate(Identity())
    joint = {(r.settings["direction"], r.settings["scoring"]): r.value for r in results
             if "scoring" in r.settings and r.metric == "recall@1"}
    assert joint[("image_and_timeseries->audio", "multilinear")] == 1.0
    assert joint[("image_and_timeseries->audio", "pairwise_sum")] == 1.0
    probes = [r.value for r in results if r.protocol == "linear_probe"]
    assert len(probes) == 3 and min(probes) == 1.0
