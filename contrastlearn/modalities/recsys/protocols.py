"""Full-sort ranking evaluation of a recommender, as the `splits.extras["ranking"]` object
that every pretraining run and `contrastlearn evaluate` call (it has `evaluate(encoder, *,
device, batch_size, split) -> list[Result]`).

Each user with validation (or test) interactions is scored against every item (no sampled
negatives) by the dot product of `encoder.user_representations` and
`encoder.item_representations`; the items the user is known to have (train, and at test time
also validation, as RecBole masks them) are excluded; Recall@K, NDCG@K, hit, precision,
coverage and popularity of the top K for K in {10, 20, 50}
(`contrastlearn.evaluation.ranking_metrics`). Sequence encoders read each user's last
`max_length` known items in time order. The same metrics for most-popular ranking (every
user gets the items with the most train interactions) are the baseline a trained
recommender must beat ("most popular" representation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from contrastlearn.evaluation import Result, ranking_metrics
from contrastlearn.modalities.recsys.datasets import histories
from contrastlearn.modalities.recsys.interactions import Interactions

RANKING_KS = (10, 20, 50)


def concatenate(first: Interactions, second: Interactions) -> Interactions:
    """The interactions of both (same index spaces), `first` then `second`."""
    def join(a: Tensor | None, b: Tensor | None) -> Tensor | None:
        return None if a is None or b is None else torch.cat([a, b])
    return replace(first, users=torch.cat([first.users, second.users]),
                   items=torch.cat([first.items, second.items]),
                   ratings=join(first.ratings, second.ratings),
                   timestamps=join(first.timestamps, second.timestamps))


def rows_of(interactions: Interactions, users: Tensor) -> tuple[Tensor, Tensor]:
    """CSR `(indptr (len(users) + 1,), items)` of the given users' items (time order)."""
    indptr, ordered = interactions.user_item_lists()
    counts = (indptr[1:] - indptr[:-1])[users]
    rows = torch.zeros(len(users) + 1, dtype=torch.long)
    rows[1:] = torch.cumsum(counts, 0)
    starts = torch.repeat_interleave(indptr[users], counts)
    offsets = torch.arange(int(rows[-1])) - torch.repeat_interleave(rows[:-1], counts)
    return rows, ordered[starts + offsets]


def user_vectors(encoder: nn.Module, users: Tensor, known: Interactions,
                 max_length: int | None, batch_size: int,
                 device: str | torch.device) -> Tensor:
    """(U, D) representations of `users`; sequence encoders read the last `max_length` items
    of each user's `known` interactions in time order."""
    if max_length is None:
        return encoder.user_representations(users.to(device)).float()
    indptr, ordered = known.user_item_lists()
    ends = (indptr[1:] - indptr[:-1])[users]
    parts = []
    for chunk in torch.arange(len(users)).split(batch_size):
        sequences = histories(indptr, ordered, users[chunk], ends[chunk], max_length)
        parts.append(encoder.user_representations(users[chunk].to(device),
                                                  sequences.to(device)).float())
    return torch.cat(parts)


@dataclass
class RankingProtocols:
    """Full-sort metrics of `valid` and `test` interactions given `train` (see the module
    docstring)."""

    train: Interactions
    valid: Interactions
    test: Interactions
    max_length: int | None = None
    ks: Sequence[int] = RANKING_KS
    popularity_baseline: bool = True

    def parts(self, split: str) -> list[tuple[str, Interactions, Interactions]]:
        """(split name, truth, known) for validation and test."""
        return [("valid", self.valid, self.train),
                (split, self.test, concatenate(self.train, self.valid))]

    def evaluate(self, encoder: nn.Module, *, device: str | torch.device = "cpu",
                 batch_size: int = 4096, split: str = "test") -> list[Result]:
        results: list[Result] = []
        was_training = encoder.training
        encoder.eval()
        try:
            with torch.no_grad():
                items = encoder.item_representations().float()
                for name, truth, known in self.parts(split):
                    if len(truth) == 0:
                        continue
                    users = torch.unique(truth.users)
                    vectors = user_vectors(encoder, users, known, self.max_length, batch_size,
                                           device)
                    results += self._metrics(vectors, items, users, truth, known, name,
                                             device, "encoder")
                    if self.popularity_baseline:
                        popularity = self.train.item_popularity().double()
                        results += self._metrics(
                            torch.ones(len(users), 1, dtype=torch.float64),
                            popularity[:, None], users, truth, known, name, device,
                            "most popular")
        finally:
            encoder.train(was_training)
        return results

    def _metrics(self, vectors: Tensor, items: Tensor, users: Tensor, truth: Interactions,
                 known: Interactions, split: str, device: str | torch.device,
                 representation: str) -> list[Result]:
        # a catalogue smaller than a K ranks everything: that K is left out
        ks = [k for k in self.ks if k <= self.train.num_items] or [self.train.num_items]
        made = ranking_metrics(vectors.to(device), items.to(device), rows_of(truth, users),
                               rows_of(known, users), ks=ks,
                               popularity=self.train.item_popularity(), split=split,
                               device=device)
        for result in made:
            result.settings["representation"] = representation
            if representation == "most popular":
                result.settings["raw_features"] = "most popular items (train interactions)"
        return made
