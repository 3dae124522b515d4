"""TS-TCC (Eldele et al. 2021, "Time-Series Representation Learning via Temporal and Contextual
Contrasting", IJCAI, arXiv 2106.14112): a weak and a strong view of each series; each view's
context of the first steps predicts the other view's next K steps (temporal contrasting), and
the two contexts of a series are contrasted against the batch (contextual contrasting)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.distributed import gather_global_batch, global_min
from contrastlearn.core.registry import METHODS
from contrastlearn.heads import ProjectionMLP
from contrastlearn.methods.base import Method
from contrastlearn.objectives import InfoNCE
from contrastlearn.objectives.base import LossOutput
from contrastlearn.objectives.temporal_contrasting import TemporalContrasting


class ContextTransformer(nn.Module):
    """TS-TCC's autoregressive summary: project each step to `hidden_dim`, prepend a learnable
    context token, run a pre-norm Transformer (ReLU feed-forward, dropout 0.1, no positional
    encoding, as in the official code) and return the token's output (B, hidden_dim)."""

    def __init__(self, in_dim: int, hidden_dim: int, layers: int, heads: int,
                 feedforward_dim: int) -> None:
        super().__init__()
        if hidden_dim % heads:
            raise ValueError(f"TS-TCC's hidden_dim ({hidden_dim}) must be divisible by "
                             f"context_heads ({heads})")
        self.input_projection = nn.Linear(in_dim, hidden_dim)
        self.context_token = nn.Parameter(torch.randn(1, 1, hidden_dim))
        layer = nn.TransformerEncoderLayer(hidden_dim, heads, feedforward_dim, dropout=0.1,
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, steps: Tensor) -> Tensor:
        tokens = self.input_projection(steps)
        token = self.context_token.expand(tokens.shape[0], -1, -1)
        return self.transformer(torch.cat([token, tokens], dim=1))[:, 0]


@METHODS.register("ts_tcc")
class TSTCC(Method):
    """views = [weak, strong] -> per-timestamp features z (optionally max-pooled in time by
    `downsample`, then L2-normalised per step as in the official code). One random step t per
    batch, with t + `timesteps` inside the shortest series, shared by both directions so that
    both contexts c = Transformer(z_{<=t}) are one batch (the official code draws one t per
    direction). Loss = temporal_weight * (TC(c_strong -> z_weak future) + TC(c_weak ->
    z_strong future)) + contextual_weight * NT-Xent(projector(c_weak), projector(c_strong)).

    `timesteps` is the most future steps K predicted (the paper predicts about 40% of the
    feature length). A batch whose shortest series is too short for it adapts instead of
    failing: the pooling factor drops to at most half the shortest length, and K to 40% of the
    pooled length (at least 1), so any series of 2 or more timestamps trains. t comes from the
    method's own generator (seeded by `seed`, default the recipe's seed), whose state is a
    buffer, so checkpoints resume exactly. The encoder must have `timestamps(x, keep=None)`
    (e.g. `ts2vec_encoder`).

    With `gather` (default) under several processes, each rank gathers the batch's features
    (with autograd) and computes the loss of the whole global batch: both contrasts see every
    rank's series, and the shortest series and t are the same on every rank. The context
    Transformer's dropout masks need not be those one process would draw, so the result
    equals one process up to dropout. The projector defaults to the official head sizes: hidden
    half, output a quarter of the per-timestamp width (`feature_dim`, else `out_dim`)."""

    default_views = "ts_tcc_views"

    def __init__(
        self, encoder: nn.Module, timesteps: int = 10, downsample: int = 1,
        hidden_dim: int = 100, context_layers: int = 4, context_heads: int = 4,
        feedforward_dim: int = 64, projection_hidden_dim: int | None = None,
        projection_dim: int | None = None, temperature: float = 0.2,
        temporal_weight: float = 1.0, contextual_weight: float = 0.7, seed: int | None = None,
        gather: bool = True,
    ) -> None:
        super().__init__(encoder)
        if not callable(getattr(encoder, "timestamps", None)):
            raise TypeError(f"TS-TCC needs an encoder with per-timestamp features "
                            f"(`timestamps(x, keep=None)`), e.g. ts2vec_encoder; got "
                            f"{type(encoder).__name__}")
        if timesteps < 1 or downsample < 1:
            raise ValueError(f"TS-TCC needs timesteps >= 1 and downsample >= 1; got "
                             f"{timesteps}, {downsample}")
        self.timesteps, self.downsample = int(timesteps), int(downsample)
        self.temporal_weight = float(temporal_weight)
        self.contextual_weight = float(contextual_weight)
        width = getattr(encoder, "feature_dim", encoder.out_dim)  # per timestamp
        self.context_model = ContextTransformer(width, hidden_dim, context_layers,
                                                context_heads, feedforward_dim)
        self.temporal = TemporalContrasting(hidden_dim, width, self.timesteps)
        self.projector = ProjectionMLP(hidden_dim, projection_hidden_dim or width // 2,
                                       projection_dim or width // 4)
        self.contextual = InfoNCE(temperature)
        self.gather = gather
        seed = torch.initial_seed() if seed is None else seed  # pretrain seeds torch first
        self.register_buffer("rng_state", torch.Generator().manual_seed(seed).get_state())

    def future_steps(self, length: int) -> int:
        """K for features of `length` steps: `timesteps`, or 40% of the length if less."""
        return max(1, min(self.timesteps, int(0.4 * length), length - 1))

    def _draw_step(self, steps: int, future: int) -> int:
        """A random last context step t in [0, steps - future - 1], from the method's
        generator."""
        generator = torch.Generator()
        generator.set_state(self.rng_state.cpu())
        step = int(torch.randint(steps - future, (1,), generator=generator))
        self.rng_state.copy_(generator.get_state())
        return step

    def _features(self, x: Tensor) -> Tensor:
        """(B, T', D) unit-norm features of the steps valid in every series of the batch."""
        features, valid = self.encoder.timestamps(x)
        shortest = int(valid.long().cumprod(dim=1).sum(dim=1).min())
        if self.gather:
            shortest = global_min(shortest, x.device)
        if shortest < 2:
            raise ValueError(f"TS-TCC predicts future steps from past ones: every series needs "
                             f"at least 2 valid timestamps; the shortest in this batch has "
                             f"{shortest}")
        features = features[:, :shortest]
        pool = min(self.downsample, shortest // 2)
        if pool > 1:
            features = F.max_pool1d(features.transpose(1, 2), pool,
                                    ceil_mode=True).transpose(1, 2)
        return F.normalize(features, dim=-1)

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        if len(views) != 2:
            raise ValueError(f"TS-TCC contrasts a weak and a strong view; got {len(views)} "
                             f"views (use views: ts_tcc_views)")
        features = self._features(torch.cat(views))  # weak rows, then strong rows
        (weak, strong), ids, local = gather_global_batch(list(features.chunk(2)), ids,
                                                         self.gather)
        features = torch.cat([weak, strong])
        horizon = self.future_steps(features.shape[1])
        step = self._draw_step(features.shape[1], horizon)
        contexts = self.context_model(features[:, : step + 1])
        future = slice(step + 1, step + 1 + horizon)
        context_weak, context_strong = contexts.chunk(2)
        temporal_strong = self.temporal(context_strong, weak[:, future], ids=ids)
        temporal_weak = self.temporal(context_weak, strong[:, future], ids=ids)
        temporal_loss = temporal_strong.loss + temporal_weak.loss
        projections = list(self.projector(contexts).chunk(2))
        contextual = self.contextual(projections, ids=ids)
        loss = self.temporal_weight * temporal_loss + self.contextual_weight * contextual.loss
        metrics = {
            **contextual.metrics,
            "tc_loss": temporal_loss.detach(),
            "cc_loss": contextual.loss.detach(),
            "tc_accuracy": (temporal_strong.metrics["accuracy"]
                            + temporal_weak.metrics["accuracy"]) / 2,
            "context_steps": float(step + 1),
            "future_steps": float(horizon),
        }
        return LossOutput(loss, metrics).with_embeddings([p[local] for p in projections])
