"""Training on (anchor, positive[, hard negative...]) tuples with the multiple negatives
ranking loss (Henderson et al., 2017, arXiv 1705.00652), as sentence-transformers does."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.methods.base import Method
from contrastlearn.modalities.text.tokens import TokenBatch, token_ids, with_token_ids
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.multiple_negatives import MultipleNegativesRanking


def tuple_view(views: list, method: str) -> Tensor | TokenBatch:
    """The one (B, k, L) view of tuple data (k >= 2), or a clear error for any other input."""
    shapes = [tuple(token_ids(view).shape) for view in views]
    if len(views) != 1 or len(shapes[0]) != 3 or shapes[0][1] < 2:
        raise ValueError(
            f"{method} trains on tuple data: one view of token ids shaped (batch, k, length) "
            "with k >= 2 columns (anchor, positive[, hard negatives]); got "
            f"{len(views)} view(s) of shape(s) {shapes}. Use a pairs or triples dataset with "
            "the views 'text_identity_views'."
        )
    return views[0]


def encode_tuple_view(network: Callable, view: Tensor | TokenBatch) -> Tensor:
    """Encode every column of a (B, k, L) tuple view in one call; returns (B, k, D)."""
    ids = token_ids(view)
    batch, columns, length = ids.shape
    flat = with_token_ids(view, ids.reshape(batch * columns, length))
    return network(flat).reshape(batch, columns, -1)


@METHODS.register("pairs")
class Pairs(Method):
    """Anchors against their positives (column 1) and every hard negative (columns 2..) of the
    batch, scored as cosine * `scale`; `symmetric` adds the positive -> anchor direction. With
    `gather` (the default) a multi-process run ranks against every process's pairs."""

    default_views = "text_identity_views"

    def __init__(self, encoder: nn.Module, scale: float = 20.0, symmetric: bool = False,
                 gather: bool = True) -> None:
        super().__init__(encoder)
        self.objective = MultipleNegativesRanking(scale, symmetric=symmetric, gather=gather)

    def training_step(self, views: list, *, labels, ids) -> LossOutput:
        z = encode_tuple_view(self.encoder, tuple_view(views, "pairs"))
        hard_negatives = z[:, 2:] if z.shape[1] > 2 else None
        output = self.objective(z[:, 0], z[:, 1], hard_negatives, ids=ids)
        return output.with_embeddings([z[:, 0], z[:, 1]])
