"""SimCSE (Gao et al., 2021, "SimCSE: Simple Contrastive Learning of Sentence Embeddings",
arXiv 2104.08821): unsupervised (dropout is the augmentation) and supervised (NLI triples)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from contrastlearn.core.registry import METHODS
from contrastlearn.methods.base import Method
from contrastlearn.modalities.text.methods.pairs import encode_tuple_view, tuple_view
from contrastlearn.modalities.text.tokens import TokenBatch, concat_ids
from contrastlearn.objectives import InfoNCE
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.multiple_negatives import MultipleNegativesRanking


def encode_token_views(
    network: Callable[[Tensor | TokenBatch], Tensor], views: Sequence[Tensor | TokenBatch]
) -> list[Tensor]:
    """Encode text views, returning one (B, D) tensor per view in order. Plain id tensors go
    through `network` in one call (padded to the widest, see `concat_ids`), so each row gets
    its own dropout mask; a TokenBatch with feature cutoff is encoded on its own, since its
    cutoff mask is drawn per call."""
    plain = [index for index, view in enumerate(views) if not isinstance(view, TokenBatch)]
    outputs: list[Tensor | None] = [None] * len(views)
    if plain:
        joined = network(concat_ids([views[index] for index in plain]))
        for index, output in zip(plain, joined.split([len(views[i]) for i in plain])):
            outputs[index] = output
    for index, view in enumerate(views):
        if isinstance(view, TokenBatch):
            outputs[index] = network(view)
    return outputs  # type: ignore[return-value]


def training_pooler(dim: int, enabled: bool) -> nn.Module:
    """SimCSE's training-only MLP pooler over the sentence embedding, Linear(D, D) + Tanh, or
    the identity when not `enabled`."""
    return nn.Sequential(nn.Linear(dim, dim), nn.Tanh()) if enabled else nn.Identity()


@METHODS.register("simcse")
class SimCSE(Method):
    """Unsupervised SimCSE: the same sentences pass the encoder twice (in one call), so
    dropout makes the two views; each first-view embedding must find its own second view
    among the second views of the batch (InfoNCE, temperature 0.05, never against rows of its
    own item). With `mlp_pooler` (the paper's unsupervised setting) a Linear + Tanh pooler is
    used in training only; the exported encoder has none. With `gather` (the default) a
    multi-process run contrasts against every process's sentences."""

    default_views = "simcse_views"

    def __init__(
        self, encoder: nn.Module, temperature: float = 0.05, mlp_pooler: bool = True,
        gather: bool = True,
    ) -> None:
        super().__init__(encoder)
        self.pooler = training_pooler(encoder.out_dim, mlp_pooler)
        self.objective = InfoNCE(temperature, cross_view_only=True, anchor_views=1,
                                 gather=gather)

    def embed(self, batch: Tensor | TokenBatch) -> Tensor:
        """Training-time embedding: encoder, then the pooler."""
        return self.pooler(self.encoder(batch))

    def training_step(self, views: list, *, labels, ids) -> LossOutput:
        if len(views) < 2:
            raise ValueError(f"SimCSE needs at least 2 views of each batch; got {len(views)}")
        z = encode_token_views(self.embed, views)
        return self.objective(z, ids=ids).with_embeddings(z)

    def gradient_cache_parts(self):
        return self.embed, lambda z, labels, ids: self.objective(z, ids=ids)


@METHODS.register("simcse_supervised")
class SupervisedSimCSE(Method):
    """Supervised SimCSE on (anchor, entailment, contradiction) triples (B, 3, L) or pairs
    (B, 2, L): each anchor against every positive and hard negative of the batch, cosine /
    temperature, with `hard_negative_weight` (log alpha) added to the logit of its own hard
    negative. `mlp_pooler` adds a training-only Linear + Tanh pooler (off by default: the
    paper keeps the supervised pooler at test time, which an exported encoder cannot). With
    `gather` (the default) a multi-process run ranks against every process's positives and
    hard negatives."""

    default_views = "text_identity_views"

    def __init__(
        self, encoder: nn.Module, temperature: float = 0.05, hard_negative_weight: float = 0.0,
        mlp_pooler: bool = False, gather: bool = True,
    ) -> None:
        super().__init__(encoder)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        self.pooler = training_pooler(encoder.out_dim, mlp_pooler)
        self.objective = MultipleNegativesRanking(
            1.0 / temperature, hard_negative_weight=hard_negative_weight, gather=gather
        )

    def training_step(self, views: list, *, labels, ids) -> LossOutput:
        view = tuple_view(views, "simcse_supervised")
        z = encode_tuple_view(lambda x: self.pooler(self.encoder(x)), view)
        hard_negatives = z[:, 2:] if z.shape[1] > 2 else None
        output = self.objective(z[:, 0], z[:, 1], hard_negatives, ids=ids)
        return output.with_embeddings([z[:, 0], z[:, 1]])
