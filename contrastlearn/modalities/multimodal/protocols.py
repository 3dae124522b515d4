"""What a paired-record model is judged by, beyond the fused vector's probes: cross-modal
retrieval both ways (each distinct input once), the modality gap, zero-shot classification from
class prompts, a linear probe on each modality's embedding, and a classifier trained on text
alone (with noise across the modality gap) tested on the other modality."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import MODALITIES
from contrastlearn.evaluation.cross_modal import cross_modal_retrieval, modality_gap
from contrastlearn.evaluation.linear import linear_probe
from contrastlearn.evaluation.noise_injection import language_only_probe
from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.zero_shot import zero_shot_classification
from contrastlearn.modalities.multimodal.data import ClassPrompts, MultimodalDataset, embed_records

PROBE_LIMIT = 10_000
"""At most this many training records (a seeded random subset) train the per-modality probes."""
PROMPT_MODALITY = "text"


def _probe_subset(data: MultimodalDataset, limit: int, seed: int) -> MultimodalDataset:
    if len(data) <= limit:
        return data
    chosen = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:limit]
    return data.subset(chosen.sort().values)


@torch.no_grad()
def prompt_embeddings(encoder: nn.Module, prompts: ClassPrompts, *, batch_size: int,
                      device: Any) -> Tensor:
    """(C, P, D) shared-space embeddings of every class's prompts (P: the most prompts any
    class has; classes with fewer repeat their last one, which leaves their mean unchanged
    only when they are equal, so prompt lists should have one length)."""
    room = MODALITIES.get(PROMPT_MODALITY)
    per_class = max(len(texts) for texts in prompts.prompts)
    padded = [texts + [texts[-1]] * (per_class - len(texts)) for texts in prompts.prompts]
    flat = [text for texts in padded for text in texts]
    samples = room.to_samples(flat)
    if room.prepare_samples is not None:
        samples = room.prepare_samples(samples, encoder.encoders[PROMPT_MODALITY])
    was_training = encoder.training
    encoder.eval()
    outputs = []
    try:
        for start in range(0, len(flat), batch_size):
            indices = torch.arange(start, min(start + batch_size, len(flat)))
            part = samples.batch_x(indices).to(device)
            outputs.append(encoder.embed(PROMPT_MODALITY, part).float().cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(outputs).view(len(padded), per_class, -1)


def distinct_rows(embeddings: Tensor, ids: Tensor) -> Tensor:
    """The first of every set of rows with the same embedding and id: the same input in
    several records (an identical caption, a clip paired several ways) is one candidate, not
    tied copies that would count against each other."""
    keys = torch.cat([embeddings.float(), ids[:, None].float()], dim=1)
    _, inverse = torch.unique(keys, dim=0, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), len(keys), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(len(keys)), reduce="amin")
    return first.sort().values


class CrossModalProtocols:
    """The cross-modal evaluation of a run's test records (`splits.extras["cross_modal"]`)."""

    def __init__(self, train: MultimodalDataset, test: MultimodalDataset,
                 prompts: ClassPrompts | None = None, *, probe_limit: int = PROBE_LIMIT,
                 seed: int = 0) -> None:
        self.train = _probe_subset(train, probe_limit, seed)
        self.test, self.prompts = test, prompts
        self.probe_limit, self.seed = probe_limit, seed

    def evaluate(self, encoder: nn.Module, *, device: Any = "cpu", batch_size: int = 256,
                 split: str = "test") -> list[Result]:
        names = [name for name in encoder.names if name in self.test.parts]
        test = {name: embed_records(self.test, encoder, batch_size=batch_size, device=device,
                                    only=name) for name in names}
        results: list[Result] = []
        ids = self.test.ids
        rows = {name: distinct_rows(test[name], ids) for name in names}
        for first, second in combinations(names, 2):
            for query, gallery in ((first, second), (second, first)):
                results += self._tagged(cross_modal_retrieval(
                    test[query][rows[query]], test[gallery][rows[gallery]],
                    ids[rows[query]], ids[rows[gallery]],
                    direction=f"{query}->{gallery}", device=device, split=split),
                    f"{query}->{gallery}")
            results += self._tagged(modality_gap(test[first], test[second], seed=self.seed,
                                                 split=split), f"{first}|{second}")
        if self.test.y is None:
            return results
        if len(names) >= 3:
            results += self._joint_retrieval(test, device, split)
        if self.prompts is not None and PROMPT_MODALITY in names:
            classes = prompt_embeddings(encoder, self.prompts, batch_size=batch_size,
                                        device=device)
            for name in names:
                if name != PROMPT_MODALITY:
                    results += self._tagged(zero_shot_classification(
                        test[name], self.test.y, classes, split=split, device=device), name)
        if self.train.y is None:
            return results
        train = {name: embed_records(self.train, encoder, batch_size=batch_size, device=device,
                                     only=name) for name in names}
        for name in names:
            probe = linear_probe(train[name], self.train.y, test[name], self.test.y,
                                 device=device, split=split)
            results += self._tagged([probe], f"{name} embedding")
        if PROMPT_MODALITY in names:
            for name in names:
                if name != PROMPT_MODALITY:
                    results += self._tagged(language_only_probe(
                        train[PROMPT_MODALITY], self.train.y, test[name], self.test.y,
                        device=device, split=split), f"text-trained, tested on {name}")
        return results

    def _joint_retrieval(self, test: dict[str, Tensor], device: Any, split: str) -> list[Result]:
        """Each modality's class from all the others together (Symile's test, Saporta et al.
        2024, arXiv 2411.01053): candidates of the target modality ranked by the multilinear
        inner product with the others (Symile's score) and by the sum of cosines with each
        (pairwise CLIP's score); a hit is a candidate of the query's class."""
        results = []
        unit = {name: F.normalize(z, dim=-1) for name, z in test.items()}
        for target in unit:
            others = [unit[name] for name in unit if name != target]
            queries = {"multilinear": torch.stack(others).prod(dim=0),
                       "pairwise_sum": torch.stack(others).sum(dim=0)}
            given = "_and_".join(name for name in unit if name != target)
            candidates = distinct_rows(unit[target], self.test.y)
            for scoring, query in queries.items():
                found = cross_modal_retrieval(query, unit[target][candidates], self.test.y,
                                              self.test.y[candidates], ks=(1,),
                                              direction=f"{given}->{target}", device=device,
                                              split=split)
                for result in found:
                    result.protocol = f"{given}_to_{target}_{scoring}_retrieval"
                    result.settings["scoring"] = scoring
                    result.settings["hit"] = "a candidate of the query's class"
                results += self._tagged(found, f"{given}->{target}")
        return results

    def _tagged(self, results: list[Result], modalities: str) -> list[Result]:
        for result in results:
            result.settings.setdefault("modalities", modalities)
            result.settings.setdefault("probe_train_records", len(self.train))
        return results
