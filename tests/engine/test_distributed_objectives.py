"""Cross-rank mathematics of every objective that takes `gather=True`, on two gloo processes.

The session's one group of WORLD_SIZE=2 CPU ranks (tests/engine/gloo.py) runs `rank_job`: each
rank holds LOCAL_BATCH=4 rows of every view (float64 leaf tensors), runs every case below with
`gather=True`, and returns its loss and input gradients. The parent compares them with its own
single-process computation on the whole 2B-row batch with `gather=False`.

The contract: DDP with gradient *averaging* over ranks must give the same parameter gradients
as one process with batch 2B. Write L_r for rank r's loss and L for the single-process loss.

* `gather_with_grad` is `torch.distributed.nn.functional.all_gather`, whose backward
  reduce-scatters (sums) the incoming gradients, so the gradient that reaches rank r's input
  rows x_r is d(sum_s L_s)/dx_r: every rank's loss sees x_r through the gathered candidates.
* DDP then averages the parameter gradients: (1/W) sum_r J_r^T d(sum_s L_s)/dx_r
  = d((1/W) sum_s L_s)/dtheta.

So the contract holds exactly when, as functions of all inputs,

    (a) mean_r L_r == L,        and then automatically
    (b) grad of L_r w.r.t. x_r == W * dL/dx_r  (x_r's rows of the full-batch gradient).

How each objective meets (a):

* InfoNCE, DCL/DCLW, SupCon: L_r is the mean over rank r's V*B local anchors (every anchor has a
  positive here: V >= 2 views, or labels), each scored against the global candidates with global
  id/label masks; every rank has the same anchor count, so the mean of the rank means is the mean
  over all V*2B anchors, i.e. L. DCLW's positive-pair normaliser is all-reduced, so global.
  `anchor_views=1` (MoCo) keeps B anchors per rank: same argument. A learnable temperature is a
  local parameter: its DDP gradient is the mean over ranks of dL_r/dtau = dL/dtau.
* MultipleNegativesRanking: L_r is the mean over rank r's B anchors of the cross-entropy
  against every rank's positives and hard negatives (ids gathered; default ids are offset by
  rank so they stay global), and the symmetric direction is the mean over the local positives
  against every rank's anchors: equal counts per rank, so mean_r L_r = L.
* BarlowTwins: the cross-correlation is built from the gathered (global) batch, so every rank
  computes the same value L_r = L, hence the mean is L.
* VICReg: the invariance MSE is the mean over local pairs (equal counts, so its mean over ranks
  is the global MSE); the variance and covariance terms use the gathered batch (L_r's share equal
  to L's). Hence mean_r L_r = L.
* SwAV: the codes come from Sinkhorn-Knopp with sums over samples all-reduced (no gradient), so
  each rank's codes are the rows of the single-process codes; L_r is the local mean of the
  swapped cross-entropies, so mean_r L_r = L.
* HierarchicalContrastive (TS2Vec, SoftCLT): the instance term is computed on the gathered
  spans, so every rank holds the global value; the temporal term is a local mean over each
  series' timestamps with equal counts per rank. Hence mean_r L_r = L. SoftCLT's soft instance
  targets are a (2B, 2B) table for the global batch, the same on every rank. Universum
  negatives are drawn with a generator seeded alike on every rank, so the mixtures of the
  gathered series are the single-process ones.
* WhitenedCSE (the whole method): each rank gathers the encoder's passes and computes the
  global batch's whitening and InfoNCE, so L_r = L; the pooler gets dL/dtheta on every rank.
* TS-TCC (the whole method, in eval mode): each rank gathers the features and computes the
  global batch's loss, so L_r = L; its own parameters (context Transformer, predictors,
  projector) get dL/dtheta on every rank and the mean over ranks is dL/dtheta.
* AlignmentUniformity: alignment is a local mean (equal counts per rank); uniformity combines
  the ranks' kernel sums before the log, so every rank holds the global uniformity and
  mean_r L_r = L. (A per-rank log of the local mean would miss L by a Jensen gap: -1.26e-2 on
  these inputs, which this case caught before the objective was fixed.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from contrastlearn.modalities.text.methods.whitenedcse import WhitenedCSE
from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
from contrastlearn.modalities.timeseries.methods.ts_tcc import TSTCC
from contrastlearn.objectives import (
    DCL,
    DCLW,
    AlignmentUniformity,
    BarlowTwins,
    InfoNCE,
    MemoryQueue,
    MultipleNegativesRanking,
    SupCon,
    SwAV,
    VICReg,
    sinkhorn_knopp,
)
from contrastlearn.objectives.hierarchical import HierarchicalContrastive
from tests.engine.gloo import WORLD_SIZE, job_results

LOCAL_BATCH = 4
GLOBAL_BATCH = WORLD_SIZE * LOCAL_BATCH
TOLERANCE = {"rtol": 0.0, "atol": 1e-10}

UNIQUE_IDS = list(range(GLOBAL_BATCH))  # global row indices
# ids of rows 0..7: item 1 twice on rank 0; items 0 and 3 on both ranks
DUPLICATE_IDS = [0, 1, 1, 3, 0, 5, 3, 7]
LABELS = [0, 1, 2, 0, 1, 2, 2, 0]


SOFT_TARGETS = (torch.rand(GLOBAL_BATCH, GLOBAL_BATCH, generator=torch.Generator().manual_seed(5),
                           dtype=torch.float64) * 0.5).fill_diagonal_(1.0)


class SpanObjective(torch.nn.Module):
    """Calls TS2Vec's hierarchical loss on a case's two (B, T, D) views, with optional soft
    instance targets for the global batch, and a freshly seeded generator (the same on every
    rank, as TS2Vec's is) for universum negatives."""

    def __init__(self, objective: torch.nn.Module, soft: bool = False) -> None:
        super().__init__()
        self.objective, self.soft = objective, soft

    def forward(self, views: list[torch.Tensor], **kwargs):
        return self.objective(*views, SOFT_TARGETS if self.soft else None,
                              torch.Generator().manual_seed(3))


def tiny_ts_tcc(gather: bool) -> torch.nn.Module:
    """TS-TCC on a small TS2Vec encoder, in eval mode (no dropout): the whole method is the
    objective, so its context Transformer, predictors and projector are the parameters."""
    encoder = TS2VecEncoder(in_channels=1, hidden_dim=6, out_dim=8, depth=1)
    method = TSTCC(encoder, timesteps=3, hidden_dim=8, context_layers=1, context_heads=2,
                   feedforward_dim=8, seed=0, gather=gather)
    return method.eval()


def tiny_whitenedcse(gather: bool) -> torch.nn.Module:
    """WhitenedCSE on a linear encoder of the case's rows (one whitening group of 6 dims, so
    the statistics need more rows than one rank's 4)."""
    encoder = torch.nn.Linear(5, 6)
    encoder.out_dim = 6
    return WhitenedCSE(encoder, num_groups=1, num_positives=2, temperature=0.1, seed=0,
                       gather=gather)


class MethodObjective(torch.nn.Module):
    """Calls a method on a case's views (series) with the case's ids."""

    def __init__(self, method: torch.nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, views: list[torch.Tensor], **kwargs):
        return self.method(views, ids=kwargs.get("ids"))


class TupleObjective(torch.nn.Module):
    """Calls an (anchors, positives[, hard negatives]) objective on a case's list of views."""

    def __init__(self, objective: torch.nn.Module) -> None:
        super().__init__()
        self.objective = objective

    def forward(self, views: list[torch.Tensor], **kwargs):
        return self.objective(*views, **kwargs)


@dataclass(frozen=True)
class Case:
    make: Callable[[bool], torch.nn.Module]
    num_views: int = 2
    dim: int = 5
    ids: list[int] | None = None
    labels: list[int] | None = None
    scores: bool = False  # SwAV: inputs are prototype scores, kept in [-1, 1]
    queue: bool = False  # InfoNCE with negatives from a gathering MemoryQueue
    row_shape: tuple[int, ...] | None = None  # each view's rows, e.g. (T, D) timestamps


CASES: dict[str, Case] = {
    "infonce_2views_unique": Case(lambda g: InfoNCE(0.2, gather=g), ids=UNIQUE_IDS),
    "infonce_2views_default_ids": Case(lambda g: InfoNCE(0.2, gather=g)),
    "infonce_2views_duplicates": Case(lambda g: InfoNCE(0.2, gather=g), ids=DUPLICATE_IDS),
    "infonce_3views_unique": Case(lambda g: InfoNCE(0.2, gather=g), 3, ids=UNIQUE_IDS),
    "infonce_3views_duplicates": Case(lambda g: InfoNCE(0.2, gather=g), 3, ids=DUPLICATE_IDS),
    "infonce_cross_view_only_unique": Case(
        lambda g: InfoNCE(0.2, cross_view_only=True, gather=g), ids=UNIQUE_IDS
    ),
    "infonce_cross_view_only_3views_duplicates": Case(
        lambda g: InfoNCE(0.2, cross_view_only=True, gather=g), 3, ids=DUPLICATE_IDS
    ),
    "infonce_anchor_views_1": Case(
        lambda g: InfoNCE(0.2, cross_view_only=True, anchor_views=1, gather=g),
        ids=DUPLICATE_IDS,
    ),
    "infonce_learnable_temperature": Case(
        lambda g: InfoNCE(0.2, learnable_temperature=True, gather=g), 3, ids=DUPLICATE_IDS
    ),
    "infonce_queue_negatives": Case(
        lambda g: InfoNCE(0.2, gather=g), ids=DUPLICATE_IDS, queue=True
    ),
    "dcl_2views_unique": Case(lambda g: DCL(0.2, gather=g), ids=UNIQUE_IDS),
    "dcl_3views_duplicates": Case(lambda g: DCL(0.2, gather=g), 3, ids=DUPLICATE_IDS),
    "dclw_3views_duplicates": Case(lambda g: DCLW(0.2, sigma=0.5, gather=g), 3, ids=DUPLICATE_IDS),
    "supcon_2views_labels": Case(
        lambda g: SupCon(0.2, gather=g), ids=UNIQUE_IDS, labels=LABELS
    ),
    "supcon_1view_labels": Case(
        lambda g: SupCon(0.2, base_temperature=0.07, gather=g), 1, ids=UNIQUE_IDS, labels=LABELS
    ),
    "supcon_3views_labels_duplicates": Case(
        lambda g: SupCon(0.2, gather=g), 3, ids=DUPLICATE_IDS, labels=LABELS
    ),
    "barlow_twins": Case(lambda g: BarlowTwins(0.05, gather=g)),
    "vicreg": Case(lambda g: VICReg(gather=g)),
    "swav_3views": Case(
        lambda g: SwAV(0.2, sinkhorn_epsilon=0.1, gather=g), 3, dim=6, scores=True
    ),
    "swav_1_assignment_view": Case(
        lambda g: SwAV(0.2, sinkhorn_epsilon=0.1, num_assignment_views=1, gather=g),
        dim=6,
        scores=True,
    ),
    "hierarchical_ts2vec": Case(
        lambda g: SpanObjective(HierarchicalContrastive(0.5, gather=g)), row_shape=(6, 5)
    ),
    "hierarchical_universum": Case(
        lambda g: SpanObjective(HierarchicalContrastive(0.5, gather=g, universum_mix=0.2)),
        row_shape=(6, 5)
    ),
    "hierarchical_softclt": Case(
        lambda g: SpanObjective(HierarchicalContrastive(0.5, temporal_tau=0.7, gather=g),
                                soft=True), row_shape=(5, 4)
    ),
    "whitenedcse_method": Case(lambda g: MethodObjective(tiny_whitenedcse(g)),
                               ids=DUPLICATE_IDS),
    "ts_tcc_method": Case(lambda g: MethodObjective(tiny_ts_tcc(g)), ids=DUPLICATE_IDS,
                          row_shape=(1, 12)),
    "alignment_uniformity": Case(
        lambda g: AlignmentUniformity(gather=g),
        ids=DUPLICATE_IDS,
    ),
    "mnrl_pairs_duplicates": Case(
        lambda g: TupleObjective(MultipleNegativesRanking(20.0, gather=g)), ids=DUPLICATE_IDS
    ),
    "mnrl_symmetric_default_ids": Case(
        lambda g: TupleObjective(MultipleNegativesRanking(20.0, symmetric=True, gather=g))
    ),
    "mnrl_weighted_hard_negatives_duplicates": Case(
        lambda g: TupleObjective(MultipleNegativesRanking(20.0, hard_negative_weight=0.5,
                                                          symmetric=True, gather=g)),
        3, ids=DUPLICATE_IDS,
    ),
}


def _full_inputs(name: str, case: Case) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(sorted(CASES).index(name) + 1)
    row_shape = (case.dim,) if case.row_shape is None else case.row_shape
    views = torch.randn(case.num_views, GLOBAL_BATCH, *row_shape, generator=generator,
                        dtype=torch.float64)
    if case.scores:
        views = views.tanh()
    return list(views)


def _queue_data(dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys enqueued by the ranks (rank r enqueues rows r*B..), ids overlapping the batch."""
    generator = torch.Generator().manual_seed(1234)
    keys = torch.randn(GLOBAL_BATCH, dim, generator=generator, dtype=torch.float64)
    key_ids = torch.tensor([0, 9, 3, 10, 11, 5, 12, -1])
    return keys, key_ids


def _run(name: str, rows: slice, gather: bool) -> dict[str, object]:
    """Loss and gradients of case `name` on the given rows (all rows when gather=False)."""
    case = CASES[name]
    torch.manual_seed(0)
    objective = case.make(gather).double()
    inputs = [view[rows].clone().requires_grad_() for view in _full_inputs(name, case)]
    kwargs: dict[str, torch.Tensor] = {}
    if case.ids is not None:
        kwargs["ids"] = torch.tensor(case.ids)[rows]
    if case.labels is not None:
        kwargs["labels"] = torch.tensor(case.labels)[rows]
    result: dict[str, object] = {}
    if case.queue:
        keys, key_ids = _queue_data(case.dim)
        queue = MemoryQueue(size=2 * GLOBAL_BATCH, dim=case.dim, gather=gather).double()
        queue.enqueue(keys[rows], key_ids[rows])
        negatives, negative_ids = queue.negatives()
        kwargs["negatives"], kwargs["negative_ids"] = negatives, negative_ids
        result["queue_keys"], result["queue_ids"] = negatives.clone(), negative_ids.clone()
    loss = objective(inputs, **kwargs).loss
    parameters = list(objective.parameters())
    grads = torch.autograd.grad(loss, inputs + parameters)
    result["loss"] = loss.detach()
    result["input_grads"] = [grad.detach() for grad in grads[: len(inputs)]]
    result["parameter_grads"] = [grad.detach() for grad in grads[len(inputs):]]
    return result


SINKHORN = {"epsilon": 0.3, "iterations": 3}


def _sinkhorn_scores() -> torch.Tensor:
    generator = torch.Generator().manual_seed(99)
    return torch.randn(GLOBAL_BATCH, 6, generator=generator, dtype=torch.float64).tanh()


def rank_job(rank: int) -> dict[str, object]:
    """What rank `rank` of the session's gloo group computes (tests/engine/gloo.py): every
    case with gather=True on its rows, and SwAV's Sinkhorn-Knopp codes of its rows."""
    rows = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
    results: dict[str, object] = {}
    for name in CASES:
        try:
            results[name] = _run(name, rows, gather=True)
        except Exception as error:  # recorded, so one case cannot hide the others
            results[name] = {"error": f"{type(error).__name__}: {error}"}
    try:
        results["sinkhorn_codes"] = sinkhorn_knopp(_sinkhorn_scores()[rows], **SINKHORN,
                                                   gather=True)
    except Exception as error:  # recorded like a case's
        results["sinkhorn_codes"] = {"error": f"{type(error).__name__}: {error}"}
    return results


@pytest.fixture(scope="module")
def rank_results(gloo_results) -> list[dict]:
    return job_results(gloo_results, "objectives")


def test_gathered_sinkhorn_codes_are_the_rows_of_the_whole_batch_codes(rank_results):
    """The sums over samples run over every rank: each rank's codes are its rows of the
    single-process codes (not the codes of its rows alone)."""
    full = sinkhorn_knopp(_sinkhorn_scores(), **SINKHORN)
    for rank, result in enumerate(rank_results):
        assert isinstance(result["sinkhorn_codes"], torch.Tensor), result["sinkhorn_codes"]
        rows = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
        torch.testing.assert_close(result["sinkhorn_codes"], full[rows], **TOLERANCE)
        alone = sinkhorn_knopp(_sinkhorn_scores()[rows], **SINKHORN)
        assert not torch.allclose(alone, full[rows]), "the check must tell the two apart"


@pytest.mark.parametrize("name", list(CASES))
def test_gathered_objective_matches_single_process(rank_results, name):
    """(a) mean over ranks of L_r == L; (b) grad of L_r w.r.t. x_r == W * (x_r rows of dL/dx);
    parameters (a learnable temperature): mean over ranks of dL_r/dtheta == dL/dtheta."""
    full = _run(name, slice(None), gather=False)
    per_rank = [results[name] for results in rank_results]
    for rank, result in enumerate(per_rank):
        assert "error" not in result, f"rank {rank}: {result.get('error')}"

    mean_loss = torch.stack([result["loss"] for result in per_rank]).mean()
    torch.testing.assert_close(mean_loss, full["loss"], **TOLERANCE, msg=lambda m: f"loss: {m}")

    for rank, result in enumerate(per_rank):
        rows = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
        assert len(result["input_grads"]) == len(full["input_grads"])
        for view, (grad, full_grad) in enumerate(
            zip(result["input_grads"], full["input_grads"])
        ):
            torch.testing.assert_close(
                grad, WORLD_SIZE * full_grad[rows], **TOLERANCE,
                msg=lambda m, r=rank, v=view: f"rank {r} view {v} input gradient: {m}",
            )
        if "queue_keys" in full:
            torch.testing.assert_close(result["queue_keys"], full["queue_keys"], **TOLERANCE)
            assert result["queue_ids"].tolist() == full["queue_ids"].tolist()

    for index, full_grad in enumerate(full["parameter_grads"]):
        mean_grad = torch.stack([result["parameter_grads"][index] for result in per_rank]).mean(0)
        torch.testing.assert_close(
            mean_grad, full_grad, **TOLERANCE, msg=lambda m: f"parameter gradient: {m}"
        )
