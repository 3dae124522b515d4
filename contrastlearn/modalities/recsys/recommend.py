"""A user's top items from a trained recommender: what `contrastlearn recommend` prints.

The user's representation reads everything known about them (train, validation and test
interactions: the recommendation is for what comes next), every known item is excluded, and
the remaining items are ranked by score with the shared chunked top-K
(`contrastlearn.evaluation.chunked_top_k`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from contrastlearn.data.arrays import DataError
from contrastlearn.evaluation import chunked_top_k
from contrastlearn.modalities.recsys.interactions import Vocabulary
from contrastlearn.modalities.recsys.protocols import (
    RankingProtocols,
    concatenate,
    rows_of,
    user_vectors,
)


@dataclass
class Recommender:
    """Top items for users of the data a run was trained on (`splits.extras`)."""

    protocols: RankingProtocols
    vocabulary: Vocabulary

    def top_items(self, encoder: nn.Module, user_id: str, k: int = 10,
                  device: str | torch.device = "cpu") -> list[dict]:
        """[{rank, item, title, score}] of the `k` best items `user_id` has not interacted
        with; DataErrors for an unknown user or one with no training history."""
        if k < 1:
            raise DataError(f"k must be >= 1; got {k}")
        user = self.vocabulary.user_index(user_id)
        if int(self.protocols.train.user_degrees()[user]) == 0:
            raise DataError(f"user {user_id!r} has no training interactions (all of theirs were "
                            "filtered or held out), so the model has learned nothing about them; "
                            "recommend for a user with history, or retrain with them in train")
        known = concatenate(concatenate(self.protocols.train, self.protocols.valid),
                            self.protocols.test)
        users = torch.tensor([user])
        seen = rows_of(known, users)
        available = self.protocols.train.num_items - int(seen[0][-1])
        if k > available:
            raise DataError(f"user {user_id!r} has {available} items left to recommend; ask "
                            f"for --k {available} or fewer")
        was_training = encoder.training
        encoder.eval()
        try:
            with torch.no_grad():
                vector = user_vectors(encoder, users, known, self.protocols.max_length, 1,
                                      device)
                items = encoder.item_representations().float()
                scores, indices = chunked_top_k(vector, items, k, exclude=seen)
        finally:
            encoder.train(was_training)
        titles = self.vocabulary.item_titles
        return [{"rank": rank, "item": self.vocabulary.item_ids[int(item)],
                 "title": titles[int(item)] if titles else "", "score": float(score)}
                for rank, (score, item) in enumerate(zip(scores[0], indices[0]), start=1)]
