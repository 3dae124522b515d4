"""Pair options: the papers' tricks that change which pairs an InfoNCE-family loss compares and
how much each counts (hard-negative mixing, false-negative cancellation, soft positives,
cluster-restricted negatives...), as small modules that plug into InfoNCE, DCL and SupCon of
any method instead of forks of those losses.

An objective that accepts options (`PairOptionsMixin`) builds a `PairTable` of every anchor
against every candidate (and its queue, if any), hands it to each option in turn, and computes
its loss from the result with `weighted_pair_loss`. Without options the objectives keep their
own fast paths; the table is built only when an option is attached.

With s = cosine / temperature, positive weights w_ip >= 0, negative log-weights u_in (-inf
drops a negative) and per-anchor synthetic negatives x_ik (logits), the loss of anchor i is

    d_i     = log( sum_n exp(s_in + u_in) + sum_k exp(x_ik) [+ sum_p exp(s_ip), SupCon] )
    loss_i  = sum_p w_ip * f(d_i, s_ip) / sum_p w_ip,

f = softplus(d - s) for InfoNCE (each positive scored against the negatives only), d - s for
DCL and SupCon; the loss is the mean over anchors with some positive weight. With w = 1 on the
positives, u = 0 on the negatives and no synthetic negatives it equals the plain loss.

How an option edits the table. `positive_weight` and `negative_log_weight` are dense (A, C)
tensors an option may read and assign; they are built only when read, so the table keeps
cheaper forms as long as the options edit it through its methods: `drop_negatives(mask)`,
`add_positives(mask)` (weight 1), `add_positive_weight(columns, values)` and
`add_negative_log_weight(columns, values)` (a few columns per anchor, as `scatter_add`),
`set_positive_weights(rows, columns, weights)` (new weights on the `positive_entries()`),
`add_dense_negative_log_weight(values)`; `current_negatives()` and `positive_entries()` read
without building anything. The loss then evaluates each positive pair from an index list and
the negatives from the mask in one (A, C) buffer (exp(logit - max), kept for the gradient,
which is that buffer times one factor per anchor). Synthetic negatives are
(A, K, D) normalised vectors in `extra_negatives`, or, for mixes of two rows the table
already holds (MoCHi, interpolated negatives), a `MixedNegatives` record appended there: the
loss scores it from the table's similarities (q . normalise(a n_i + b n_j) = (a q.n_i +
b q.n_j) / |a n_i + b n_j|, the norm from n_i . n_j) without building the (A, K, D) vectors,
which are built only when someone reads them from the list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from contrastlearn.objectives._pairs import ViewPairs, check_ids

Form = Literal["infonce", "decoupled", "supcon"]

# a pair of dot-product lookups costs about this many Gram-matrix multiply-adds: below it the
# candidates' Gram matrix is cheaper than gathering the rows of every pair
_GRAM_PER_LOOKUP = 16


def mask_entries(mask: Tensor) -> tuple[Tensor, Tensor]:
    """(rows, columns) of the True entries of a 2-D bool mask in row-major order, as
    `mask.nonzero(as_tuple=True)`. On the CPU a sparse mask is scanned eight bytes at a time
    (the words holding an entry first), several times faster than `nonzero`."""
    entries = _sparse_flat_entries(mask)
    if entries is None:
        return mask.nonzero(as_tuple=True)
    columns = mask.shape[1]
    return entries // columns, entries % columns


def _sparse_flat_entries(mask: Tensor, densest: float = 0.25) -> Tensor | None:
    """Flat indices of a CPU bool mask's True entries, or None where the word scan does not
    pay (another device, a layout it cannot view, more than `densest` of the words hit)."""
    flat = mask.reshape(-1)
    if (mask.device.type != "cpu" or flat.numel() % 8 or flat.storage_offset() % 8
            or flat.numel() == 0):
        return None
    words = flat.view(torch.int64)
    hit = words.nonzero().squeeze(1)
    if hit.numel() > densest * words.numel():
        return None
    within = flat.view(-1, 8)[hit].nonzero()
    return hit[within[:, 0]] * 8 + within[:, 1]


@dataclass(eq=False)
class MixedNegatives:
    """Synthetic negatives that mix two rows of the table: per anchor a and slot k,

        normalise(w_ak x_end + (1 - w_ak) x_start) * keep_a,

    x = the candidate of that column, or the anchor itself where `ends` is -1 (`starts` are
    always candidate columns). Kept as indices so that the loss scores them from the table's
    similarities; `vectors()` builds the (A, K, D) tensor (detached) when it is read."""

    candidates: Tensor  # (C, D), detached
    anchors: Tensor  # (A, D), detached
    ends: Tensor  # (A, K) long: candidate column, or -1 for the anchor
    starts: Tensor  # (A, K) long: candidate column
    weights: Tensor  # (A, K): the share of the end
    keep: Tensor | None = None  # (A,) bool: anchors whose mixes count (others get zeros)
    _vectors: Tensor | None = field(default=None, repr=False)

    def vectors(self) -> Tensor:
        """The (A, K, D) normalised synthetic negatives."""
        if self._vectors is None:
            count = self.anchors.shape[0]
            rows = torch.cat([self.candidates, self.anchors])  # row C + a is anchor a
            own = self.candidates.shape[0] + torch.arange(count, device=rows.device)
            ends = torch.where(self.ends < 0, own[:, None], self.ends)
            mixed = rows[self.starts].lerp_(rows[ends], self.weights[..., None].to(rows.dtype))
            mixed = F.normalize(mixed, dim=-1)
            if self.keep is not None:
                mixed = mixed * self.keep[:, None, None].to(mixed.dtype)
            self._vectors = mixed
        return self._vectors

    def cosines(self, table: PairTable) -> Tensor:
        """(A, K) cosines of each anchor with its mixes; the gradient reaches the anchor only
        (the mixes are constants, as every synthetic negative)."""
        if not table.similarity_is_of_rows():
            return torch.einsum("ad,akd->ak", table.anchors, self.vectors())
        similarity = table.similarity.detach()
        own = self.ends < 0
        ends = self.ends.clamp_min(0)
        anchor_norms = self.anchors.to(similarity.dtype).square().sum(dim=1)
        candidate_norms = self.candidates.to(similarity.dtype).square().sum(dim=1)
        to_start = similarity.gather(1, self.starts)  # q . x_start
        to_end = torch.where(own, anchor_norms[:, None], similarity.gather(1, ends))
        between = torch.where(own, to_start, candidate_cosines(table, ends, self.starts))
        weight = self.weights.to(similarity.dtype)
        rest = 1 - weight
        squared = (weight.square() * torch.where(own, anchor_norms[:, None],
                                                 candidate_norms[ends])
                   + rest.square() * candidate_norms[self.starts]
                   + 2 * weight * rest * between)
        inverse_norm = squared.clamp_min(0).sqrt().clamp_min(1e-12).reciprocal()
        if self.keep is not None:
            inverse_norm = inverse_norm * self.keep[:, None].to(inverse_norm.dtype)
        end_share, start_share = weight * inverse_norm, rest * inverse_norm
        values = end_share * to_end + start_share * to_start
        return _MixedCosines.apply(table.anchors, values, self.candidates, self.anchors, ends,
                                   self.starts, own, end_share, start_share)


class _MixedCosines(torch.autograd.Function):
    """Cosines with mixes whose values are already known; backward gives the anchors the
    gradient of q . m for constant m = end_share x_end + start_share x_start: one (A, C)
    coefficient matrix times the candidates, plus the anchor's own share for self-mixes."""

    @staticmethod
    def forward(ctx: Any, anchors: Tensor, values: Tensor, candidates: Tensor,
                own_rows: Tensor, ends: Tensor, starts: Tensor, own: Tensor,
                end_share: Tensor, start_share: Tensor) -> Tensor:
        ctx.save_for_backward(candidates, own_rows, ends, starts, own, end_share, start_share)
        ctx.anchor_dtype = anchors.dtype
        return values.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        candidates, own_rows, ends, starts, own, end_share, start_share = ctx.saved_tensors
        to_end = grad * end_share
        coefficients = torch.zeros(grad.shape[0], candidates.shape[0], dtype=grad.dtype,
                                   device=grad.device)
        coefficients.scatter_add_(1, starts, grad * start_share)
        coefficients.scatter_add_(1, ends, to_end.masked_fill(own, 0.0))
        anchor_grad = coefficients.to(candidates.dtype) @ candidates
        own_share = to_end.masked_fill(~own, 0.0).sum(dim=1)
        anchor_grad = anchor_grad + own_share[:, None].to(own_rows.dtype) * own_rows
        return (anchor_grad.to(ctx.anchor_dtype),) + (None,) * 8


class SyntheticNegatives(list):
    """`PairTable.extra_negatives`: a list of (A, K, D) synthetic negatives. Items may be
    `MixedNegatives` records; reading an item (indexing, iterating) builds its vectors, while
    the loss reads the records themselves (`records()`)."""

    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        if isinstance(index, slice):
            return [_as_vectors(entry) for entry in item]
        return _as_vectors(item)

    def __iter__(self) -> Iterator[Tensor]:
        return (_as_vectors(entry) for entry in super().__iter__())

    def records(self) -> list[Tensor | MixedNegatives]:
        """The items as stored (tensors and `MixedNegatives` records)."""
        return list(super().__iter__())


def _as_vectors(item: Tensor | MixedNegatives) -> Tensor:
    return item.vectors() if isinstance(item, MixedNegatives) else item


class PairTable:
    """Anchors against candidates, as the options see and change them.

    Rows are anchors (local rows, L2-normalised, with gradients); columns are candidates (the
    rows of every view, gathered across processes when the loss gathers, then the queue rows
    if any). `positive_weight` and `negative_log_weight` start as the plain loss's masks
    (1 / 0 on positives, 0 / -inf on negatives); options edit them (see the module docstring
    for the methods that keep the edits cheap) and may append synthetic negatives
    (`extra_negatives`, (A, K, D), normalised, one set per anchor, or `MixedNegatives`).
    `context` holds what the objective knows besides the pairs: `labels` (SupCon),
    `num_views`, `local_batch`, `batch_candidates` (how many leading columns are batch rows,
    not queue)."""

    def __init__(
        self,
        anchors: Tensor,  # (A, D)
        candidates: Tensor,  # (C, D)
        similarity: Tensor,  # (A, C) cosines, with gradients
        scale: Tensor | float,  # 1 / temperature
        anchor_ids: Tensor,  # (A,)
        candidate_ids: Tensor,  # (C,); queue rows carry their own ids (or -1 - row)
        positive_mask: Tensor,  # (A, C) bool, the plain loss's positives (never edited)
        negative_mask: Tensor,  # (A, C) bool, the plain loss's negatives (never edited)
        positive_weight: Tensor | None = None,  # (A, C) float; None: the positive mask
        negative_log_weight: Tensor | None = None,  # (A, C) float; None: 0 / -inf
        extra_negatives: list[Tensor] | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        self.anchors, self.candidates, self.similarity, self.scale = (anchors, candidates,
                                                                      similarity, scale)
        self.anchor_ids, self.candidate_ids = anchor_ids, candidate_ids
        self.positive_mask, self.negative_mask = positive_mask, negative_mask
        self.extra_negatives = extra_negatives if extra_negatives is not None else []
        self.context: dict[str, Any] = context if context is not None else {}
        self._row_similarity: Tensor | None = None  # `similarity` when it is anchors @ rows
        # positive weights, in the first form that is set: dense, entries, or a 0/1 mask
        self._positive_weight: Tensor | None = None
        self._positive_entries: tuple[Tensor, Tensor, Tensor] | None = None  # unique
        self._positives: Tensor | None = positive_mask
        # negative log-weights: dense, or on a mask (-inf elsewhere) 0 plus an optional dense
        # addition plus unique sparse entries
        self._negative_log_weight: Tensor | None = None
        self._negatives: Tensor | None = negative_mask
        self._negative_added: Tensor | None = None
        self._negative_entries: tuple[Tensor, Tensor, Tensor] | None = None
        if positive_weight is not None:
            self.positive_weight = positive_weight
        if negative_log_weight is not None:
            self.negative_log_weight = negative_log_weight

    # ------------------------------------------------------------------ the dense views

    @property
    def extra_negatives(self) -> SyntheticNegatives:
        return self._extra_negatives

    @extra_negatives.setter
    def extra_negatives(self, value: list[Tensor]) -> None:
        self._extra_negatives = (value if isinstance(value, SyntheticNegatives)
                                 else SyntheticNegatives(value))

    @property
    def positive_weight(self) -> Tensor:
        """(A, C) positive weights (built on first read; from then on the loss uses it)."""
        if self._positive_weight is None:
            dtype = self.similarity.dtype
            if self._positive_entries is not None:
                rows, columns, weights = self._positive_entries
                dense = torch.zeros(self.similarity.shape, dtype=dtype,
                                    device=self.similarity.device)
                dense = dense.index_put((rows, columns), weights.to(dtype))
            else:
                assert self._positives is not None
                dense = self._positives.to(dtype)
            self.positive_weight = dense
        assert self._positive_weight is not None
        return self._positive_weight

    @positive_weight.setter
    def positive_weight(self, value: Tensor) -> None:
        self._positive_weight, self._positive_entries, self._positives = value, None, None

    @property
    def negative_log_weight(self) -> Tensor:
        """(A, C) negative log-weights, -inf where dropped (built on first read)."""
        if self._negative_log_weight is None:
            assert self._negatives is not None
            if self._negative_added is not None:
                dense = torch.where(self._negatives, self._negative_added, float("-inf"))
            else:
                dense = torch.zeros_like(self.similarity).masked_fill(~self._negatives,
                                                                      float("-inf"))
            if self._negative_entries is not None:
                rows, columns, values = self._negative_entries
                dense = dense.index_put((rows, columns), values.to(dense.dtype),
                                        accumulate=True)
            self.negative_log_weight = dense
        assert self._negative_log_weight is not None
        return self._negative_log_weight

    @negative_log_weight.setter
    def negative_log_weight(self, value: Tensor) -> None:
        self._negative_log_weight, self._negatives = value, None
        self._negative_added = self._negative_entries = None

    @property
    def logits(self) -> Tensor:
        return self.similarity * self.scale

    def negative_logits(self) -> Tensor:
        """The logits of the current negatives (others at the lowest float), detached: what an
        option ranks to find hard negatives."""
        lowest = torch.finfo(self.similarity.dtype).min
        with torch.no_grad():
            logits = self.similarity * self.scale
            if self._negative_log_weight is not None:
                return (logits + self._negative_log_weight).nan_to_num(neginf=lowest)
            assert self._negatives is not None
            if self._negative_added is not None:
                logits = logits + self._negative_added
            ranked = torch.where(self._negatives, logits, lowest)
            if self._negative_entries is not None:
                rows, columns, values = self._negative_entries
                counted = self._negatives[rows, columns]
                ranked[rows[counted], columns[counted]] = (logits[rows, columns]
                                                           + values)[counted]
            if self._negative_added is not None or self._negative_entries is not None:
                ranked = ranked.nan_to_num(neginf=lowest)  # a log-weight of -inf, added
            return ranked

    def similarity_is_of_rows(self) -> bool:
        """Whether `similarity` is still `anchors @ candidates.T`, as `start_table` built it
        (then the loss may score mixes from it)."""
        return self._row_similarity is not None and self.similarity is self._row_similarity

    def anchors_are_candidates(self) -> bool:
        """Whether the anchors are the candidates themselves (anchor a is column a), so that
        `similarity` is also the candidates' cosine matrix."""
        anchors, candidates = self.anchors, self.candidates
        return (self.similarity_is_of_rows() and anchors.shape == candidates.shape
                and anchors.dtype == candidates.dtype
                and anchors.data_ptr() == candidates.data_ptr()
                and anchors.stride() == candidates.stride())

    # ------------------------------------------------------------------ reads without builds

    def current_negatives(self) -> Tensor:
        """(A, C) bool: the entries the loss now counts as negatives (log-weight not -inf)."""
        if self._negative_log_weight is not None:
            return ~torch.isneginf(self._negative_log_weight)
        assert self._negatives is not None
        if self._negative_added is not None:
            return self._negatives & ~torch.isneginf(self._negative_added)
        return self._negatives

    def positive_entries(self) -> tuple[Tensor, Tensor, Tensor]:
        """(rows, columns, weights) of the entries with a positive weight, row-major."""
        if self._positive_weight is not None:
            rows, columns = mask_entries(self._positive_weight > 0)
            return rows, columns, self._positive_weight[rows, columns]
        if self._positive_entries is not None:
            rows, columns, weights = self._positive_entries
            kept = weights > 0
            return rows[kept], columns[kept], weights[kept]
        assert self._positives is not None
        rows, columns = mask_entries(self._positives)
        return rows, columns, torch.ones(rows.shape, dtype=self.similarity.dtype,
                                         device=rows.device)

    def positive_totals(self) -> Tensor:
        """(A,) sum of each anchor's positive weights."""
        if self._positive_weight is not None:
            return self._positive_weight.sum(dim=1)
        count = self.similarity.shape[0]
        if self._positive_entries is not None:
            rows, _, weights = self._positive_entries
            return torch.zeros(count, dtype=weights.dtype, device=weights.device).index_add_(
                0, rows, weights)
        rows, _ = mask_entries(self._positives)
        return torch.bincount(rows, minlength=count).to(self.similarity.dtype)

    # ------------------------------------------------------------------ edits

    def drop_negatives(self, mask: Tensor) -> None:
        """Drop the negatives where `mask` (log-weight -inf)."""
        if self._negative_log_weight is not None:
            self.negative_log_weight = self._negative_log_weight.masked_fill(mask,
                                                                             float("-inf"))
        else:
            assert self._negatives is not None
            self._negatives = self._negatives & ~mask

    def add_positives(self, mask: Tensor) -> None:
        """Set the positive weight to 1 where `mask`."""
        if self._positives is not None:
            self._positives = self._positives | mask
        else:
            self.positive_weight = self.positive_weight.masked_fill(mask, 1.0)

    def add_positive_weight(self, columns: Tensor, values: Tensor) -> None:
        """`positive_weight.scatter_add(1, columns, values)` for (A, k) columns and values."""
        if self._positive_weight is not None:
            self.positive_weight = self._positive_weight.scatter_add(1, columns, values)
            return
        rows, old_columns, weights = self._stored_positive_entries()
        new_rows = torch.arange(columns.shape[0], device=columns.device)[:, None]
        self._positive_entries = _coalesce(
            torch.cat([rows, new_rows.expand_as(columns).reshape(-1)]),
            torch.cat([old_columns, columns.reshape(-1)]),
            torch.cat([weights, values.reshape(-1).to(weights.dtype)]),
            self.similarity.shape[1])
        self._positives = None

    def set_positive_weights(self, rows: Tensor, columns: Tensor, weights: Tensor) -> None:
        """New weights on entries returned by `positive_entries()` (the others keep theirs)."""
        if self._positive_weight is not None:
            self.positive_weight = self._positive_weight.index_put((rows, columns), weights)
            return
        old_rows, old_columns, old_weights = self._stored_positive_entries()
        width = self.similarity.shape[1]
        replaced = torch.isin(old_rows * width + old_columns, rows * width + columns)
        self._positive_entries = _coalesce(
            torch.cat([old_rows, rows]), torch.cat([old_columns, columns]),
            torch.cat([old_weights.masked_fill(replaced, 0.0), weights.to(old_weights.dtype)]),
            width)
        self._positives = None

    def add_negative_log_weight(self, columns: Tensor, values: Tensor) -> None:
        """`negative_log_weight.scatter_add(1, columns, values)` for (A, k) columns and finite
        values (-inf drops too)."""
        if self._negative_log_weight is not None or not bool(
                (torch.isfinite(values) | torch.isneginf(values)).all()):
            self.negative_log_weight = self.negative_log_weight.scatter_add(1, columns, values)
            return
        assert self._negatives is not None
        rows = torch.arange(columns.shape[0], device=columns.device)[:, None].expand_as(columns)
        rows, columns, values = rows.reshape(-1), columns.reshape(-1), values.reshape(-1)
        if self._negative_entries is not None:
            old_rows, old_columns, old_values = self._negative_entries
            rows, columns = torch.cat([old_rows, rows]), torch.cat([old_columns, columns])
            values = torch.cat([old_values, values.to(old_values.dtype)])
        rows, columns, values = _coalesce(rows, columns, values, self.similarity.shape[1])
        dropped = torch.isneginf(values)
        if bool(dropped.any()):
            self._negatives = self._negatives.index_put(
                (rows[dropped], columns[dropped]), torch.zeros((), dtype=torch.bool,
                                                               device=rows.device))
            rows, columns, values = rows[~dropped], columns[~dropped], values[~dropped]
        self._negative_entries = (rows, columns, values)

    def add_dense_negative_log_weight(self, values: Tensor) -> None:
        """`negative_log_weight + values` for an (A, C) tensor (kept beside the negatives'
        mask: the loss adds it in the pass that applies the mask)."""
        if self._negative_log_weight is not None:
            self.negative_log_weight = self._negative_log_weight + values
        elif self._negative_added is not None:
            self._negative_added = self._negative_added + values
        else:
            self._negative_added = values

    def _stored_positive_entries(self) -> tuple[Tensor, Tensor, Tensor]:
        if self._positive_entries is not None:
            return self._positive_entries
        return self.positive_entries()


def _coalesce(rows: Tensor, columns: Tensor, values: Tensor, width: int
              ) -> tuple[Tensor, Tensor, Tensor]:
    """Entries with repeated (row, column) summed into one, in row-major order."""
    keys, inverse = torch.unique(rows * width + columns, return_inverse=True)
    summed = torch.zeros(keys.shape, dtype=values.dtype, device=values.device)
    summed = summed.index_add(0, inverse, values)
    return keys // width, keys % width, summed


def candidate_cosines(table: PairTable, first: Tensor, second: Tensor | None = None) -> Tensor:
    """Cosines between candidate rows, detached: `first` against `second` (same shape), or
    with `second=None` the rows `first` against every candidate (`first.shape + (C,)`). Read
    from the table's similarity when the anchors are the candidates themselves."""
    candidates = table.candidates.detach()
    similarity_dtype = table.similarity.dtype
    if table.anchors_are_candidates():
        gram = table.similarity.detach()
        return gram[first] if second is None else gram[first, second]
    if second is None:
        return (candidates[first.reshape(-1)] @ candidates.T).to(similarity_dtype).reshape(
            *first.shape, candidates.shape[0])
    count = candidates.shape[0]
    if count * count <= _GRAM_PER_LOOKUP * first.numel():
        return (candidates @ candidates.T).to(similarity_dtype)[first, second]
    flat_first, flat_second = first.reshape(-1), second.reshape(-1)
    chunk = max(1, (1 << 20) // max(1, candidates.shape[1]))
    parts = [(candidates[flat_first[start:start + chunk]]
              * candidates[flat_second[start:start + chunk]]).sum(dim=-1)
             for start in range(0, flat_first.numel(), chunk)]
    joined = torch.cat(parts) if parts else candidates.new_zeros(0)
    return joined.to(similarity_dtype).reshape(first.shape)


class PairOption(nn.Module):
    """Base of every pair option: `forward(table) -> table` edits the weights or appends
    synthetic negatives; it must not edit `positive_mask` / `negative_mask`.

    `needs_negatives`: the option acts on negatives, so a loss without any (BYOL's) refuses
    it. `forms`: the loss forms it is defined for."""

    needs_negatives: bool = True
    forms: tuple[Form, ...] = ("infonce", "decoupled", "supcon")

    def forward(self, table: PairTable) -> PairTable:
        raise NotImplementedError


class PairOptionsMixin:
    """For an `nn.Module` loss: `self.pair_options` (an `nn.ModuleList`, saved with the
    model) and `add_pair_option`. `pair_form` says how the loss scores a positive."""

    pair_form: Form = "infonce"
    pair_options: nn.ModuleList

    def init_pair_options(self) -> None:
        assert isinstance(self, nn.Module)
        self.pair_options = nn.ModuleList()

    def add_pair_option(self, option: PairOption) -> None:
        if self.pair_form not in option.forms:
            raise ValueError(f"{type(option).__name__} is defined for {', '.join(option.forms)} "
                             f"losses, not for {type(self).__name__} ({self.pair_form})")
        self.pair_options.append(option)

    def apply_pair_options(self, table: PairTable) -> PairTable:
        for option in self.pair_options:
            table = option(table)
        return table


def start_table(
    anchors: Tensor, candidates: Tensor, scale: Tensor | float, anchor_ids: Tensor,
    candidate_ids: Tensor, positive_mask: Tensor, negative_mask: Tensor,
    **context: Any,
) -> PairTable:
    """The table of the plain loss: weight 1 on positives, log-weight 0 on negatives."""
    similarity = anchors @ candidates.T
    if similarity.dtype in (torch.float16, torch.bfloat16):
        similarity = similarity.float()
    table = PairTable(anchors, candidates, similarity, scale, anchor_ids, candidate_ids,
                      positive_mask, negative_mask, context=context)
    table._row_similarity = similarity
    return table


def table_from_pairs(
    pairs: ViewPairs, scale: Tensor | float, positive_mask: Tensor, negative_mask: Tensor,
    negatives: Tensor | None = None, negative_ids: Tensor | None = None, **context: Any,
) -> PairTable:
    """The plain table of an objective's view pairs, with queue rows (`negatives`, (K, D))
    appended as candidates that are negatives of every anchor but their own item's."""
    candidates, candidate_ids = pairs.candidates, pairs.candidate_ids
    context.update(num_views=pairs.num_views, local_batch=pairs.local_batch,
                   batch_candidates=candidates.shape[0])
    if negatives is not None and negatives.shape[0] > 0:
        dim = candidates.shape[1]
        if negatives.dim() != 2 or negatives.shape[1] != dim:
            raise ValueError(f"negatives must be (K, {dim}); got {tuple(negatives.shape)}")
        count = negatives.shape[0]
        bank_ids = (-1 - torch.arange(count, device=candidates.device) if negative_ids is None
                    else check_ids(negative_ids, count, candidates.device, name="negative_ids"))
        candidates = torch.cat([candidates, F.normalize(negatives.to(candidates.dtype), dim=-1)])
        candidate_ids = torch.cat([candidate_ids, bank_ids])
        positive_mask = torch.cat([positive_mask, positive_mask.new_zeros(len(positive_mask),
                                                                           count)], dim=1)
        negative_mask = torch.cat(
            [negative_mask, pairs.anchor_ids[:, None] != bank_ids[None, :]], dim=1)
    return start_table(pairs.anchors, candidates, scale, pairs.anchor_ids, candidate_ids,
                       positive_mask, negative_mask, **context)


def loss_with_pair_options(
    loss: PairOptionsMixin, table: PairTable
) -> tuple[Tensor, dict[str, Tensor]]:
    """Apply `loss`'s options to the plain table; the loss and the plain pairs' metrics."""
    plain_positives, plain_negatives = table.positive_mask, table.negative_mask
    edited = loss.apply_pair_options(table)
    value, terms = _weighted_loss_and_terms(edited, loss.pair_form)
    metrics = _plain_metrics(edited, terms, plain_positives, plain_negatives)
    return value, metrics


def weighted_pair_loss(table: PairTable, form: Form) -> Tensor:
    """The loss of the module docstring from a (possibly edited) table."""
    return _weighted_loss_and_terms(table, form)[0]


@dataclass
class _Terms:
    """What the loss computed that the plain metrics can reuse."""

    positives: Tensor | None  # the positive mask the loss used, if a 0/1 mask
    rows: Tensor
    columns: Tensor
    cosines: Tensor  # (P,) detached
    negatives: Tensor | None  # the negative mask the loss used, if a mask
    best_negative: Tensor  # (A,) largest cosine over `negatives` (-inf: none)


def _weighted_loss_and_terms(table: PairTable, form: Form) -> tuple[Tensor, _Terms]:
    similarity, scale = table.similarity, table.scale
    count = similarity.shape[0]
    mask_form = table._positives is not None
    if mask_form:
        rows, columns = mask_entries(table._positives)
        totals = torch.bincount(rows, minlength=count)
        pair_weight = totals[rows].to(similarity.dtype).reciprocal()
    else:
        rows, columns, weights = table.positive_entries()
        totals = table.positive_totals()
        row_totals = totals[rows]
        pair_weight = torch.where(row_totals > 0, weights / row_totals, 0.0)
    log_weight = table._negative_log_weight
    if log_weight is None:  # the mask, with what is added on it
        negatives, log_weight, entries = (table._negatives, table._negative_added,
                                          table._negative_entries)
    else:
        negatives, entries = None, None
    entry_index = entry_values = None
    if entries is not None:
        entry_index, entry_values = entries[:2], entries[2]
    log_denominator, cosines, best_negative = _NegativeTerms.apply(
        similarity, scale, log_weight, entry_values, negatives, entry_index, (rows, columns))
    positive_logits = cosines * scale
    lowest = torch.finfo(log_denominator.dtype).min
    if form == "supcon":  # SupCon's denominator holds every other row, positives included
        log_denominator = torch.logaddexp(log_denominator,
                                          _segment_logsumexp(positive_logits, rows, count))
    for extra in table.extra_negatives.records():
        if isinstance(extra, MixedNegatives):
            extra_logits = extra.cosines(table) * scale
        elif extra.shape[1] == 1:  # one per anchor: a row-wise dot beats a batched product
            extra_logits = (table.anchors * extra[:, 0]).sum(dim=1, keepdim=True) * scale
        else:
            extra_logits = torch.einsum("ad,akd->ak", table.anchors, extra) * scale
        extra_logits = extra_logits.to(log_denominator.dtype).nan_to_num(neginf=lowest)
        log_denominator = torch.logaddexp(log_denominator, extra_logits.logsumexp(dim=1))
    margin = log_denominator[rows] - positive_logits
    per_pair = F.softplus(margin) if form == "infonce" else margin
    anchors_with_positive = (totals > 0).sum().clamp_min(1)
    value = (per_pair * pair_weight).sum() / anchors_with_positive
    terms = _Terms(table._positives if mask_form else None, rows, columns, cosines.detach(),
                   negatives, best_negative)
    return value, terms


def _segment_logsumexp(values: Tensor, rows: Tensor, count: int) -> Tensor:
    """(count,) log-sum-exp of `values` grouped by `rows` (a row without any: log(tiny))."""
    largest = torch.full((count,), float("-inf"), dtype=values.dtype, device=values.device)
    largest = largest.scatter_reduce(0, rows, values.detach(), "amax").nan_to_num(neginf=0.0)
    sums = torch.zeros(count, dtype=values.dtype, device=values.device).index_add(
        0, rows, (values - largest[rows]).exp())
    return largest + sums.clamp_min(torch.finfo(values.dtype).tiny).log()


class _NegativeTerms(torch.autograd.Function):
    """Per anchor, log sum_n exp(s_n * scale + u_n) over its negatives (the lowest float where
    it has none), the cosines of the positive pairs, and the largest negative cosine (for the
    metrics; negatives given as a mask only). One pass builds exp(logit - max) and keeps it;
    the gradient of the similarity is that times one factor per row, plus the positives'.

    Negatives come as a mask (log-weight 0 there, -inf elsewhere) with an optional dense
    addition (`log_weight`) and optional sparse log-weights on some entries, or, without a
    mask, as a dense log-weight tensor."""

    @staticmethod
    def forward(ctx: Any, similarity: Tensor, scale: Tensor | float,
                log_weight: Tensor | None, entry_values: Tensor | None,
                negatives: Tensor | None, entry_index: tuple[Tensor, Tensor] | None,
                positive_index: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        lowest = torch.finfo(similarity.dtype).min
        def scaled_add(base: Tensor, values: Tensor, out: Tensor | None = None) -> Tensor:
            """base + values * scale (into `out`)"""
            if isinstance(scale, Tensor):
                return torch.addcmul(base, values, scale, out=out)
            return torch.add(base, values, alpha=scale, out=out)

        if negatives is not None:
            shifted = torch.where(negatives, similarity, float("-inf"))
            best_negative = shifted.amax(dim=1)
            if log_weight is None and entry_index is None:  # (s - best) * scale, in place
                largest = best_negative.nan_to_num(neginf=0.0) * scale
                scaled_add(-largest[:, None], shifted, out=shifted)
            else:
                if log_weight is None:
                    shifted.mul_(scale)
                else:
                    scaled_add(log_weight, shifted, out=shifted)
                if entry_index is not None:
                    shifted.index_put_(entry_index, entry_values, accumulate=True)
                largest = shifted.amax(dim=1).nan_to_num(neginf=0.0)
                shifted.sub_(largest[:, None])
        else:
            best_negative = torch.full_like(similarity[:, 0], float("nan"))
            shifted = scaled_add(log_weight, similarity)
            shifted.nan_to_num_(nan=0.0, neginf=float("-inf"))
            largest = shifted.amax(dim=1).nan_to_num(neginf=0.0)
            shifted.sub_(largest[:, None])
        sums = shifted.exp_().sum(dim=1)
        log_sum = (sums.log() + largest).clamp_min(lowest)  # no negative: log 0 -> lowest
        ctx.mark_non_differentiable(best_negative)
        ctx.save_for_backward(similarity, shifted, sums.reciprocal().nan_to_num(posinf=0.0))
        ctx.scale, ctx.entry_index, ctx.positive_index = scale, entry_index, positive_index
        return log_sum, similarity[positive_index], best_negative

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_log_sum: Tensor, grad_cosines: Tensor, _: Tensor
                 ) -> tuple[Tensor | None, ...]:
        similarity, exps, inverse_sums = ctx.saved_tensors
        factor = grad_log_sum * inverse_sums
        needs = ctx.needs_input_grad
        grad_similarity = grad_scale = grad_log_weight = grad_entries = None
        if needs[0]:
            grad_similarity = exps * (factor * ctx.scale)[:, None]
            grad_similarity.index_put_(ctx.positive_index, grad_cosines, accumulate=True)
        if needs[1]:
            grad_scale = (factor * (exps * similarity).sum(dim=1)).sum()
        if needs[2]:
            grad_log_weight = exps * factor[:, None]
        if needs[3]:
            rows, columns = ctx.entry_index
            grad_entries = exps[rows, columns] * factor[rows]
        return grad_similarity, grad_scale, grad_log_weight, grad_entries, None, None, None


@torch.no_grad()
def _plain_metrics(table: PairTable, terms: _Terms, positive_mask: Tensor,
                   negative_mask: Tensor) -> dict[str, Tensor]:
    """contrastive_accuracy (the best-scoring candidate, first column on ties, is a positive),
    positive_similarity and negative_similarity (mean cosines) of the plain pairs, reusing
    what the loss computed where its masks were the plain ones."""
    similarity = table.similarity.detach()
    count, width = similarity.shape
    if terms.positives is positive_mask:
        rows, columns, cosines = terms.rows, terms.columns, terms.cosines
    else:
        rows, columns = mask_entries(positive_mask)
        cosines = similarity[rows, columns]
    dropped = None  # the plain negatives the loss's mask (a subset) left out, if few
    if terms.negatives is not None and terms.negatives is not negative_mask:
        dropped = _sparse_flat_entries(negative_mask & ~terms.negatives)
    if terms.negatives is negative_mask:
        best_negative = terms.best_negative
    elif dropped is not None:
        best_negative = terms.best_negative.scatter_reduce(
            0, dropped // width, similarity.reshape(-1)[dropped], "amax")
    else:
        best_negative = torch.where(negative_mask, similarity, float("-inf")).amax(dim=1)
    best_positive = torch.full((count,), float("-inf"), dtype=similarity.dtype,
                               device=similarity.device)
    best_positive = best_positive.scatter_reduce(0, rows, cosines, "amax")
    has_positive = best_positive > float("-inf")
    correct = best_positive > best_negative
    tied = has_positive & (best_positive == best_negative)
    if bool(tied.any()):  # argmax takes the first column: compare the tied columns
        at_best = cosines == best_positive[rows]
        first_positive = torch.full((count,), width, device=rows.device).scatter_reduce(
            0, rows, torch.where(at_best, columns, width), "amin")
        tied_rows = tied.nonzero().squeeze(1)
        first_negative = torch.where(negative_mask[tied_rows], similarity[tied_rows],
                                     float("-inf")).max(dim=1).indices
        correct[tied_rows] = first_positive[tied_rows] <= first_negative
    non_negatives = _sparse_flat_entries(~negative_mask)
    if non_negatives is None:
        negative_sum = torch.where(negative_mask, similarity, 0.0).sum()
        negative_count = torch.count_nonzero(negative_mask).clamp_min(1)
    else:  # few non-negatives (the positives, the anchor itself): subtract them
        negative_sum = similarity.sum() - similarity.reshape(-1)[non_negatives].sum()
        negative_count = max(count * width - non_negatives.numel(), 1)
    correct &= has_positive
    return {
        "contrastive_accuracy": (correct.sum().to(similarity.dtype)
                                 / has_positive.sum().clamp_min(1)),
        "positive_similarity": cosines.sum() / max(cosines.numel(), 1),
        "negative_similarity": negative_sum / negative_count,
    }
