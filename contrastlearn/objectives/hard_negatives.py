"""Hard-negative pair options: which negatives an InfoNCE-family loss contrasts and how much
each counts, as `PairOption`s that plug into InfoNCE, DCL and SupCon of any method.

- `mochi`: synthetic hard negatives mixed from each anchor's hardest negatives (MoCHi,
  Kalantidis et al. 2020, arXiv 2010.01028);
- `false_negative_cancellation`: the negatives most similar to the anchor's item are taken
  for false negatives and dropped or turned into positives (Huynh et al. 2022, arXiv
  2011.11765);
- `debiased_weights`: inverse-propensity weights on positives and negatives from the batch's
  similarity distribution (after DebCSE, Miao et al. 2023, arXiv 2309.07396);
- `cluster_negatives`: negatives restricted to the anchor's cluster of the previous stage
  (MCL, Zhang et al. 2024, arXiv 2402.11816).

Every option sees the `PairTable` of the loss (anchors against candidates, queue rows
included) and changes only `positive_weight`, `negative_log_weight` or `extra_negatives`;
what it computes from the embeddings is detached, so gradients flow through the loss's own
logits only. "Current negatives" are the table's entries with a finite negative log-weight,
so options compose in the order they are listed.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.core.registry import METHOD_OPTIONS
from contrastlearn.objectives.pair_options import (
    MixedNegatives,
    PairOption,
    PairTable,
    candidate_cosines,
    mask_entries,
)

__all__ = [
    "ClusterNegatives",
    "DebiasedWeights",
    "FalseNegativeCancellation",
    "HardNegativeMixing",
    "spherical_kmeans",
]


def _check_int(name: str, value: int, minimum: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}: {fix}")


@METHOD_OPTIONS.register("mochi", description="MoCHi: synthetic hard negatives mixed from each "
                         "anchor's hardest negatives (Kalantidis et al. 2020.")
class HardNegativeMixing(PairOption):
    """MoCHi (Kalantidis et al. 2020, "Hard Negative Mixing for Contrastive Learning", arXiv
    2010.01028): per anchor q, its current negatives are ranked by logit and the N hardest
    kept (Q_N); then

        s  mixes      h_k  = normalise(a_k n_i + (1 - a_k) n_j),  n_i, n_j ~ U(Q_N), a_k ~ U(0, 1)
        s' self-mixes h'_k = normalise(b_k q + (1 - b_k) n_j),    n_j ~ U(Q_N),    b_k ~ U(0, 0.5)

    are appended to the anchor's negatives (`extra_negatives`). As in the paper, no gradient
    flows through the synthetic points (q in h'_k included); b < 0.5 keeps the anchor's share
    of a self-mix below the negative's. Queue rows (MoCo) are negatives like batch rows, so
    with a queue Q_N is drawn from it as in the paper.

    Defaults (N, s, s') = (1024, 256, 128), a setting of the size the paper ablates for MoCo
    v2 with a 16k queue. The synthetic points are kept as indices and coefficients
    (`MixedNegatives`) and scored from the table's similarities: (A, s + s') lookups and, in the
    backward, one (A, C) coefficient matrix times the candidates, not an (A, s + s', D) tensor;
    ranking each anchor's negatives (a sort of its N hardest) is the main cost on a CPU. A
    batch without a queue holds far fewer negatives (2B - 2 = 510 for two views of 256),
    so N is capped at the fewest current negatives any anchor has, and s, s' shrink in the
    same proportion (rounded up), keeping the paper's ratio of synthetic to hard negatives:
    (510, 128, 64) for that batch. A batch where some anchor has no negative at all is left
    as it is. Randomness (which negatives, which coefficients) comes from torch's default
    generator on the embeddings' device, drawn in this order: the mixes' index pairs, their
    coefficients, the self-mixes' indices, their coefficients."""

    def __init__(self, hardest: int = 1024, mixes: int = 256, self_mixes: int = 128) -> None:
        super().__init__()
        _check_int("mochi hardest", hardest, 1, "set how many hardest negatives are mixed")
        _check_int("mochi mixes", mixes, 0, "set how many negative-negative mixes to add")
        _check_int("mochi self_mixes", self_mixes, 0,
                   "set how many anchor-negative mixes to add")
        self.hardest, self.mixes, self.self_mixes = hardest, mixes, self_mixes

    def sizes(self, available: int) -> tuple[int, int, int]:
        """(N, s, s') for anchors that have at least `available` negatives each."""
        hardest = min(self.hardest, available)
        return (hardest, -(-self.mixes * hardest // self.hardest),
                -(-self.self_mixes * hardest // self.hardest))

    def forward(self, table: PairTable) -> PairTable:
        available = int(table.current_negatives().sum(dim=1).min())
        hardest, mixes, self_mixes = self.sizes(available)
        if hardest == 0 or mixes + self_mixes == 0:
            return table
        hard = table.negative_logits().topk(hardest, dim=1).indices  # (A, N) columns
        count, device = table.anchors.shape[0], table.anchors.device
        dtype = table.candidates.dtype
        ends, starts, weights = [], [], []  # each synthetic point is w * end + (1 - w) * start
        if mixes:
            pairs = torch.randint(hardest, (count, mixes, 2), device=device)
            weights.append(torch.rand(count, mixes, 1, device=device, dtype=dtype))
            ends.append(hard.gather(1, pairs[..., 0]))
            starts.append(hard.gather(1, pairs[..., 1]))
        if self_mixes:
            picks = torch.randint(hardest, (count, self_mixes), device=device)
            weights.append(0.5 * torch.rand(count, self_mixes, 1, device=device, dtype=dtype))
            ends.append(torch.full((count, self_mixes), -1, device=device))  # the anchor
            starts.append(hard.gather(1, picks))
        # kept as indices: the loss scores the mixes from the table's similarities
        table.extra_negatives.append(MixedNegatives(
            table.candidates.detach(), table.anchors.detach(), torch.cat(ends, dim=1),
            torch.cat(starts, dim=1), torch.cat(weights, dim=1).squeeze(-1)))
        return table

    def extra_repr(self) -> str:
        return f"hardest={self.hardest}, mixes={self.mixes}, self_mixes={self.self_mixes}"


FNC_STRATEGIES = ("attraction", "elimination")
FNC_AGGREGATES = ("max", "mean")


@METHOD_OPTIONS.register("false_negative_cancellation",
                         description="False negative cancellation: the negatives most similar "
                         "to the anchor's item are dropped or attracted (Huynh et al. 2022.")
class FalseNegativeCancellation(PairOption):
    """False negative cancellation (Huynh et al. 2022, "Boosting Contrastive Self-Supervised
    Learning with False Negative Cancellation", WACV, arXiv 2011.11765).

    Each current negative c of anchor i is scored by its cosine to the anchor's item: the
    paper compares it with the item's support views; here the support views are the item's
    views in the batch (the anchor itself and its other views, i.e. the batch rows with the
    anchor's id), aggregated by `aggregate` ("max": the largest cosine, as the authors'
    released code, read from the candidates' cosine rows; "mean": the mean cosine, with the
    views' normalised mean). The `top_k` highest-scoring negatives whose score
    also exceeds `threshold` (None: no threshold) are false negatives, and

    - `elimination`: they are dropped from the negatives (log-weight -inf);
    - `attraction`: they are dropped from the negatives and become positives of weight 1.

    Defaults top_k=10, threshold=0.7 and attraction: the settings of the authors' released
    code (google-research/fnc), which gives the paper's headline results; the paper finds
    attraction the better of the two strategies. `top_k=0` changes nothing."""

    def __init__(
        self,
        top_k: int = 10,
        threshold: float | None = 0.7,
        strategy: Literal["attraction", "elimination"] = "attraction",
        aggregate: Literal["max", "mean"] = "max",
    ) -> None:
        super().__init__()
        _check_int("false_negative_cancellation top_k", top_k, 0,
                   "set how many negatives per anchor may be cancelled (0: none)")
        if threshold is not None and not -1.0 <= threshold <= 1.0:
            raise ValueError(f"false_negative_cancellation threshold must be a cosine in "
                             f"[-1, 1] or null; got {threshold!r}")
        if strategy not in FNC_STRATEGIES:
            raise ValueError(f"false_negative_cancellation strategy must be one of "
                             f"{', '.join(FNC_STRATEGIES)}; got {strategy!r}")
        if aggregate not in FNC_AGGREGATES:
            raise ValueError(f"false_negative_cancellation aggregate must be one of "
                             f"{', '.join(FNC_AGGREGATES)}; got {aggregate!r}")
        self.top_k, self.threshold = top_k, threshold
        self.strategy, self.aggregate = strategy, aggregate

    def item_scores(self, table: PairTable) -> Tensor:
        """(A, C) cosine of every candidate to each anchor's item (its batch views)."""
        candidates = table.candidates.detach()
        batch = table.context.get("batch_candidates", candidates.shape[0])
        support = table.anchor_ids[:, None] == table.candidate_ids[None, :batch]  # (A, Cb)
        if self.aggregate == "mean":
            share = support.to(candidates.dtype)
            centre = (share / share.sum(dim=1, keepdim=True)) @ candidates[:batch]
            return centre @ candidates.T
        rows, columns = mask_entries(support)
        count = support.shape[0]
        own_rows = table.anchors_are_candidates()  # then anchor a is column a, its own view
        if own_rows:  # start from the similarity rows: only the other views are looked up
            others = columns != rows
            rows, columns = rows[others], columns[others]
        views = torch.bincount(rows, minlength=count)  # support views per anchor
        slots = int(views.max()) if rows.numel() else 0
        if slots == 0:
            if own_rows:
                return table.similarity.detach().clone()
            return candidates.new_full((count, candidates.shape[0]), float("-inf"))
        # slot m of an anchor: its m-th view, else the anchor itself (own rows) or its last
        first = torch.cumsum(views, dim=0) - views
        order = first[:, None] + torch.arange(slots, device=rows.device)
        missing = order >= (first + views)[:, None]
        slot_columns = columns[order.clamp(max=len(columns) - 1)]
        anchor_rows = torch.arange(count, device=rows.device)[:, None].expand_as(slot_columns)
        fill = anchor_rows if own_rows else columns[(first + views - 1).clamp_min(0)][:, None]
        slot_columns = torch.where(missing, fill, slot_columns)
        scores = candidate_cosines(table, slot_columns[:, 0])
        if own_rows:
            torch.maximum(scores, table.similarity.detach(), out=scores)
        for slot in range(1, slots):
            torch.maximum(scores, candidate_cosines(table, slot_columns[:, slot]), out=scores)
        if not own_rows and bool((views == 0).any()):
            scores = scores.masked_fill((views == 0)[:, None], float("-inf"))
        return scores

    def forward(self, table: PairTable) -> PairTable:
        top_k = min(self.top_k, table.similarity.shape[1])
        if top_k == 0:
            return table
        scores = self.item_scores(table)
        torch.where(table.current_negatives(), scores, scores.new_tensor(float("-inf")),
                    out=scores)
        if self.threshold is None:
            false = self._top(scores, top_k, None)
        else:  # where at most top_k negatives pass the threshold, they are the false ones
            false = scores > self.threshold
            above = torch.bincount(mask_entries(false)[0], minlength=false.shape[0])
            crowded = (above > top_k).nonzero().squeeze(1)
            if crowded.numel():
                false[crowded] = self._top(scores[crowded], top_k, self.threshold)
        table.drop_negatives(false)
        if self.strategy == "attraction":
            table.add_positives(false)
        return table

    @staticmethod
    def _top(scores: Tensor, top_k: int, threshold: float | None) -> Tensor:
        """(rows, C) bool: each row's top_k scores that are negatives (finite) and exceed the
        threshold."""
        values, columns = scores.topk(top_k, dim=1)
        chosen = ~torch.isneginf(values)
        if threshold is not None:
            chosen &= values > threshold
        return torch.zeros(scores.shape, dtype=torch.bool, device=scores.device).scatter(
            1, columns, chosen)

    def extra_repr(self) -> str:
        return (f"top_k={self.top_k}, threshold={self.threshold}, strategy={self.strategy}, "
                f"aggregate={self.aggregate}")


def _mean_and_std(values: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and population std (at least 1e-6) of `values`."""
    mean = values.sum() / values.numel()
    centred = values - mean
    return mean, (centred.dot(centred) / values.numel()).sqrt().clamp_min(1e-6)


def _masked_mean_and_std(similarity: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and population std (at least 1e-6) of `similarity` over `mask`."""
    count = torch.count_nonzero(mask)
    mean = torch.where(mask, similarity, 0.0).sum() / count
    centred = torch.where(mask, similarity - mean, 0.0).reshape(-1)
    return mean, (centred.dot(centred) / count).sqrt().clamp_min(1e-6)


@METHOD_OPTIONS.register("debiased_weights",
                         description="DebCSE-style inverse-propensity weights: hard positives "
                         "count more, likely false negatives less (Miao et al. 2023.")
class DebiasedWeights(PairOption):
    """Inverse-propensity pair weights after DebCSE (Miao et al. 2023, "DebCSE: Rethinking
    Unsupervised Contrastive Sentence Embedding Learning in the Debiasing Perspective", arXiv
    2309.07396). DebCSE picks sentence pairs with inverse-propensity weights computed from
    their surface and semantic similarity, so that the training pairs look like supervised
    data: positives that are not trivially alike, negatives that are not paraphrases. An
    objective sees embeddings, not sentences, so this version uses the only similarity it
    has, the (detached) cosine s of each pair, standardised over the batch's pairs of the same
    kind: z = (s - mean) / std over the current positives, resp. the current negatives.

    - Positive (i, p): the propensity of being drawn as an easy positive is e = sigmoid(z);
      its weight is multiplied by the clipped inverse propensity
          min(1 / e, max_weight) = min(1 + exp(-z), max_weight),
      about 1 for an easy positive, larger for a hard one. The loss normalises positive
      weights per anchor, so they matter where an anchor has several positives (more than two
      views, SupCon, positives added by false-negative attraction).
    - Negative (i, n): the propensity of being a false negative is e = sigmoid(z - margin),
      small for the bulk of the negatives and near 1 for those far more similar than the
      batch's negatives; it counts with weight 1 - e, i.e. log-weight logsigmoid(margin - z).

    Defaults are ours (the paper's weights are for sentences): max_weight=10 (the usual
    clipping of inverse-propensity weights) and margin=2 (a negative two standard deviations
    above the batch mean counts half). `max_weight=1` and `margin=inf` change nothing."""

    def __init__(self, max_weight: float = 10.0, margin: float = 2.0) -> None:
        super().__init__()
        if not 1.0 <= max_weight < math.inf:
            raise ValueError(f"debiased_weights max_weight must be finite and >= 1 (1: "
                             f"positives keep their weights); got {max_weight!r}")
        if math.isnan(margin):
            raise ValueError("debiased_weights margin must be a number (inf: negatives keep "
                             "their weights); got nan")
        self.max_weight, self.margin = float(max_weight), float(margin)

    @torch.no_grad()
    def forward(self, table: PairTable) -> PairTable:
        similarity = table.similarity.detach()
        if self.max_weight > 1.0:
            rows, columns, weights = table.positive_entries()
            if rows.numel():
                cosines = similarity[rows, columns]
                mean, std = _mean_and_std(cosines)
                inverse = (1 + torch.exp(-((cosines - mean) / std))).clamp(max=self.max_weight)
                table.set_positive_weights(rows, columns, weights * inverse)
        negatives = table.current_negatives()
        if self.margin != math.inf and bool(negatives.any()):
            mean, std = _masked_mean_and_std(similarity, negatives)
            # margin - (s - mean) / std in one pass
            shifted = torch.add(self.margin + mean / std, similarity,
                                alpha=-float(std.reciprocal()))
            table.add_dense_negative_log_weight(F.logsigmoid(shifted))
        return table

    def extra_repr(self) -> str:
        return f"max_weight={self.max_weight}, margin={self.margin}"


def spherical_kmeans(rows: Tensor, centroids: Tensor, iterations: int) -> Tensor:
    """Lloyd iterations on unit vectors from `centroids` (k, D): each row joins the centroid
    of largest cosine, each centroid becomes its members' normalised mean (a centroid without
    members stays where it is). Returns the new (k, D) centroids."""
    for _ in range(iterations):
        assignment = (rows @ centroids.T).argmax(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, rows)
        members = torch.bincount(assignment, minlength=centroids.shape[0])
        centroids = torch.where(members[:, None] > 0, F.normalize(sums, dim=-1), centroids)
    return centroids


@METHOD_OPTIONS.register("cluster_negatives",
                         description="MCL: negatives only from the anchor's cluster of the "
                         "previous training stage (Zhang et al. 2024.")
class ClusterNegatives(PairOption):
    """Cluster-restricted negatives of Multistage Contrastive Learning (MCL; Zhang et al.
    2024, "Learning the Unlearned: Mitigating Feature Suppression in Contrastive Learning",
    arXiv 2402.11816). Training runs in stages of `stage_steps` calls of the option (one per
    loss evaluation in training mode: MoCo v2 evaluates its loss twice per step). Stage 1 is
    the plain loss. At the end of each stage the batch rows seen last (up to `buffer_size`,
    kept in a fixed-size ring buffer, detached) are clustered into `clusters` groups by
    `iterations` Lloyd iterations of spherical k-means (cosine, the losses' similarity),
    started from evenly spaced buffer rows. During the next stage an anchor's negatives are
    only the current negatives assigned (by nearest frozen centroid) to the anchor's own
    cluster, so the loss must separate items the previous stage's features could not. An
    anchor whose cluster holds none of its negatives keeps its plain negatives.

    Differences from the paper: it clusters the whole dataset with each stage's final model
    and keeps every earlier stage's assignment; here the clusters come from the last
    `buffer_size` batch rows of the stage (gathered over processes when the loss gathers, so
    every process computes the same clusters) and only the previous stage's clustering is
    kept, so the state has a fixed size. Cross-stage representation integration (the
    concatenation of every stage's encoder into the final representation) is out of scope:
    the exported encoder is the last stage's. A stage that saw fewer rows than `clusters`
    keeps the previous clustering. `clusters` defaults to 10 (the paper sets it per dataset;
    10 is the class count of the benchmarks here), `dim` must equal the embedding size."""

    def __init__(
        self,
        clusters: int = 10,
        dim: int = 128,
        stage_steps: int = 1000,
        buffer_size: int = 4096,
        iterations: int = 10,
    ) -> None:
        super().__init__()
        _check_int("cluster_negatives clusters", clusters, 2,
                   "set how many clusters the negatives are split into")
        _check_int("cluster_negatives dim", dim, 1, "set it to the embedding size of the loss")
        _check_int("cluster_negatives stage_steps", stage_steps, 1,
                   "set how many loss evaluations a stage lasts")
        _check_int("cluster_negatives buffer_size", buffer_size, clusters,
                   "keep at least one buffered row per cluster")
        _check_int("cluster_negatives iterations", iterations, 1,
                   "set how many Lloyd iterations run at a stage boundary")
        self.clusters, self.dim, self.stage_steps = clusters, dim, stage_steps
        self.buffer_size, self.iterations = buffer_size, iterations
        self.register_buffer("centroids", torch.zeros(clusters, dim))
        self.register_buffer("ready", torch.tensor(False))
        self.register_buffer("calls", torch.tensor(0, dtype=torch.long))
        self.register_buffer("buffer", torch.zeros(buffer_size, dim))
        self.register_buffer("seen", torch.tensor(0, dtype=torch.long))

    def forward(self, table: PairTable) -> PairTable:
        dim = table.anchors.shape[1]
        if dim != self.dim:
            raise ValueError(f"cluster_negatives was built with dim={self.dim} but the loss's "
                             f"embeddings have {dim} dimensions: set its dim to {dim}")
        if bool(self.ready):
            centroids = self.centroids.to(table.anchors.dtype)
            anchor_cluster = (table.anchors.detach() @ centroids.T).argmax(dim=1)
            candidate_cluster = (table.candidates.detach() @ centroids.T).argmax(dim=1)
            outside = anchor_cluster[:, None] != candidate_cluster[None, :]
            keeps_some = (table.current_negatives() & ~outside).any(dim=1, keepdim=True)
            table.drop_negatives(outside & keeps_some)
        if self.training:
            batch = table.context.get("batch_candidates", table.candidates.shape[0])
            self._record(table.candidates[:batch].detach())
        return table

    @torch.no_grad()
    def _record(self, rows: Tensor) -> None:
        """Write `rows` into the ring buffer; cluster it at the end of a stage."""
        rows = rows[-self.buffer_size:].to(self.buffer.dtype)
        start = int(self.seen)
        positions = (start + torch.arange(len(rows), device=self.buffer.device))
        self.buffer[positions % self.buffer_size] = rows
        self.seen += len(rows)
        self.calls += 1
        if int(self.calls) % self.stage_steps == 0:
            filled = min(int(self.seen), self.buffer_size)
            if filled >= self.clusters:
                data = self.buffer[:filled]
                start_rows = torch.arange(self.clusters, device=data.device) * filled
                initial = F.normalize(data[start_rows // self.clusters], dim=-1)
                self.centroids.copy_(spherical_kmeans(data, initial, self.iterations))
                self.ready.fill_(True)
            self.seen.zero_()

    def extra_repr(self) -> str:
        return (f"clusters={self.clusters}, dim={self.dim}, stage_steps={self.stage_steps}, "
                f"buffer_size={self.buffer_size}, iterations={self.iterations}")
