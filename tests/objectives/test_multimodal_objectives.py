"""The multimodal objectives (CLIP, SigLIP, Symile, pairwise contrast, contrastive gap) against
independent float64 references written with explicit loops over rows and pairs: the loss value
and the gradients of the inputs and of the learnt temperature / bias. Also: id masks, the
temperature clamp, bad inputs, SigLIP's chunking (every chunk size gives the full-matrix
loss, and its autograd graph keeps no B x B tensor) and, slow-marked, the cross-rank
mathematics of `gather=True` on two gloo processes (SigLIP's ring included)."""

from __future__ import annotations

import datetime
import itertools
import math
import os
from collections.abc import Callable

import pytest
import torch

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives import (
    CLIPLoss,
    ContrastiveGapLoss,
    PairwiseContrast,
    SigLIPLoss,
    SymileLoss,
    multilinear_inner_product,
)

pytestmark = pytest.mark.usefixtures("one_thread")

BATCH, DIM = 5, 4
DUPLICATE_IDS = torch.tensor([0, 1, 2, 1, 4])  # row 3 is item 1 again


def views(count: int, batch: int = BATCH, dim: int = DIM, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, dim, generator=generator, dtype=torch.float64).requires_grad_()
            for _ in range(count)]


def leaf_copies(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return [tensor.detach().clone().requires_grad_() for tensor in tensors]


def unit_rows(view: torch.Tensor) -> list[torch.Tensor]:
    return [row / torch.sqrt((row * row).sum()) for row in view]


def same_item(ids: torch.Tensor | None, i: int, j: int) -> bool:
    return i == j if ids is None else bool(ids[i] == ids[j])


# ----- references: explicit loops, float64 --------------------------------------------------

def reference_clip(a: torch.Tensor, b: torch.Tensor, log_scale: torch.Tensor,
                   ids: torch.Tensor | None = None) -> torch.Tensor:
    """mean over both directions and rows of -log(e^{s_ii} / sum_{j kept} e^{s_ij})."""
    scale, total = torch.exp(log_scale), 0.0
    rows_a, rows_b = unit_rows(a), unit_rows(b)
    for rows, columns in ((rows_a, rows_b), (rows_b, rows_a)):
        for i in range(len(rows)):
            kept = [torch.exp(scale * torch.dot(rows[i], columns[j])) for j in range(len(rows))
                    if j == i or not same_item(ids, i, j)]
            total = total - (scale * torch.dot(rows[i], columns[i]) - torch.log(sum(kept)))
    return total / (2 * len(rows_a))


def reference_siglip(x: torch.Tensor, y: torch.Tensor, log_scale: torch.Tensor,
                     bias: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
    """(1/B) sum_{i,j} log(1 + exp(-z_ij (t x_i.y_j + b))), same-item pairs i != j skipped."""
    scale, total = torch.exp(log_scale), 0.0
    rows_x, rows_y = unit_rows(x), unit_rows(y)
    for i, j in itertools.product(range(len(rows_x)), repeat=2):
        if i != j and same_item(ids, i, j):
            continue
        sign = 1.0 if i == j else -1.0
        total = total + torch.log1p(torch.exp(-sign * (scale * torch.dot(rows_x[i], rows_y[j])
                                                        + bias)))
    return total / len(rows_x)


def reference_symile_all(tensors: list[torch.Tensor], log_scale: torch.Tensor,
                         ids: torch.Tensor | None = None) -> torch.Tensor:
    """Three modalities, "n_squared": every (j, k) of the two non-anchor modalities."""
    scale, total = torch.exp(log_scale), 0.0
    rows = [unit_rows(tensor) for tensor in tensors]
    batch = len(rows[0])
    for anchor in range(3):
        first, second = [m for m in range(3) if m != anchor]
        for i in range(batch):
            scores = {}
            for j in range(batch):
                for k in range(batch):
                    if (j, k) != (i, i) and same_item(ids, i, j) and same_item(ids, i, k):
                        continue  # a copy of the positive tuple
                    product = rows[anchor][i] * rows[first][j] * rows[second][k]
                    scores[j, k] = scale * product.sum()
            total = total - (scores[i, i] - torch.log(sum(torch.exp(s) for s in scores.values())))
    return total / (3 * batch)


def reference_symile_shuffled(tensors: list[torch.Tensor], log_scale: torch.Tensor,
                              seed: int) -> torch.Tensor:
    """Three modalities, "n": for anchor a (in order) one torch.randperm(B) for the second
    non-anchor modality; column j = (first[j], second[perm[j]]), column i = the positive."""
    torch.manual_seed(seed)
    scale, total = torch.exp(log_scale), 0.0
    rows = [unit_rows(tensor) for tensor in tensors]
    batch = len(rows[0])
    for anchor in range(3):
        first, second = [m for m in range(3) if m != anchor]
        order = torch.randperm(batch)
        for i in range(batch):
            scores = []
            for j in range(batch):
                k = i if j == i else int(order[j])
                scores.append(scale * (rows[anchor][i] * rows[first][j] * rows[second][k]).sum())
            total = total - (scores[i] - torch.log(sum(torch.exp(s) for s in scores)))
    return total / (3 * batch)


def squared_distance(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return ((u - v) ** 2).sum()


def reference_gap_terms(x: torch.Tensor, y: torch.Tensor, ids: torch.Tensor | None, t: float
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """alignment, mean in-modal uniformity and cross-modal uniformity, pair by pair."""
    rows_x, rows_y = unit_rows(x), unit_rows(y)
    batch = len(rows_x)
    alignment = sum(squared_distance(rows_x[i], rows_y[i]) for i in range(batch)) / batch
    uniformities = []
    for rows in (rows_x, rows_y):
        kernel = [torch.exp(-t * squared_distance(rows[i], rows[j]))
                  for i, j in itertools.product(range(batch), repeat=2)
                  if not same_item(ids, i, j)]
        uniformities.append(torch.log(sum(kernel) / len(kernel)))
    cross = [torch.exp(-t * squared_distance(rows_x[i], rows_y[j]))
             for i, j in itertools.product(range(batch), repeat=2) if not same_item(ids, i, j)]
    return alignment, sum(uniformities) / 2, torch.log(sum(cross) / len(cross))


def assert_matches(loss_fn: Callable[[list[torch.Tensor]], torch.Tensor],
                   reference_fn: Callable[[list[torch.Tensor], list[torch.Tensor]], torch.Tensor],
                   inputs: list[torch.Tensor], parameters: list[torch.Tensor]) -> None:
    """Same value and same gradients (inputs and parameters) as the reference, which gets its
    own leaf copies of both."""
    loss = loss_fn(inputs)
    gradients = torch.autograd.grad(loss, inputs + parameters)
    reference_inputs, reference_parameters = leaf_copies(inputs), leaf_copies(parameters)
    expected = reference_fn(reference_inputs, reference_parameters)
    expected_gradients = torch.autograd.grad(expected, reference_inputs + reference_parameters)
    torch.testing.assert_close(loss, expected)
    for got, want in zip(gradients, expected_gradients, strict=True):
        torch.testing.assert_close(got, want)


# ----- values and gradients ------------------------------------------------------------------

@pytest.mark.parametrize("ids", [None, DUPLICATE_IDS])
def test_clip_matches_reference(ids):
    loss = CLIPLoss().double()
    parameter = loss.log_inverse_temperature
    assert_matches(lambda z: loss(z, ids=ids).loss,
                   lambda z, p: reference_clip(z[0], z[1], p[0], ids), views(2), [parameter])


def test_clip_ids_mask_duplicates_out_of_the_negatives():
    """Row 3 is item 1 again: with ids it is neither a negative of row 1 nor scored at all
    against it, so the loss changes; the reference (which skips those pairs) agrees."""
    z = views(2)
    loss = CLIPLoss(learnable_temperature=False)
    with_ids = loss(z, ids=DUPLICATE_IDS).loss
    assert not torch.isclose(with_ids, loss(z).loss)
    reference = reference_clip(z[0], z[1], torch.tensor(math.log(1 / 0.07), dtype=torch.float64),
                               DUPLICATE_IDS)
    torch.testing.assert_close(with_ids, reference)


def test_clip_local_loss_equals_global_matrix_on_one_process():
    z = views(2)
    full, local = CLIPLoss().double(), CLIPLoss(local_loss=True, gather=True).double()
    assert_matches(lambda z: local(z).loss, lambda z, p: full(z).loss, z, [])


def test_clip_fixed_temperature_and_metrics():
    z = views(2)
    loss = CLIPLoss(temperature=0.5, learnable_temperature=False)
    assert list(loss.parameters()) == []
    output = loss(z)
    torch.testing.assert_close(output.loss, reference_clip(
        z[0], z[1], torch.tensor(math.log(2.0), dtype=torch.float64)))
    assert output.metrics["temperature"] == 0.5
    aligned = loss([z[0], z[0] * 3.0]).metrics  # every pair identical up to scale
    assert float(aligned["contrastive_accuracy"]) == 1.0
    torch.testing.assert_close(aligned["positive_similarity"],
                               torch.tensor(1.0, dtype=torch.float64))


@pytest.mark.parametrize("ids", [None, DUPLICATE_IDS])
@pytest.mark.parametrize("chunk_size", [1, 3, BATCH, None])
def test_siglip_chunks_match_full_matrix_reference(chunk_size, ids):
    loss = SigLIPLoss(chunk_size=chunk_size).double()
    parameters = [loss.log_inverse_temperature, loss.bias]
    assert_matches(lambda z: loss(z, ids=ids).loss,
                   lambda z, p: reference_siglip(z[0], z[1], p[0], p[1], ids),
                   views(2), parameters)


def test_siglip_paper_initialisation_and_fixed_parameters():
    loss = SigLIPLoss()
    torch.testing.assert_close(loss.log_inverse_temperature.detach(), torch.tensor(math.log(10)))
    assert float(loss.bias.detach()) == -10.0
    fixed = SigLIPLoss(temperature=0.5, learnable_temperature=False, bias=-2.0,
                       learnable_bias=False).double()
    assert list(fixed.parameters()) == []
    z = views(2)
    torch.testing.assert_close(fixed(z).loss, reference_siglip(
        z[0], z[1], torch.tensor(math.log(2.0), dtype=torch.float64),
        torch.tensor(-2.0, dtype=torch.float64)))


def test_siglip_metrics_match_the_dense_computation():
    z = views(2, batch=6, seed=3)
    loss = SigLIPLoss(chunk_size=4).double()
    metrics = loss(z).metrics
    x, y = (torch.nn.functional.normalize(view.detach(), dim=1) for view in z)
    similarity = x @ y.T
    off_diagonal = ~torch.eye(6, dtype=torch.bool)
    torch.testing.assert_close(metrics["positive_similarity"], similarity.diagonal().mean())
    torch.testing.assert_close(metrics["negative_similarity"], similarity[off_diagonal].mean())
    best_rows = similarity.masked_fill(~off_diagonal, -2).amax(1)
    best_columns = similarity.masked_fill(~off_diagonal, -2).amax(0)
    accuracy = ((similarity.diagonal() >= best_rows).double().mean()
                + (similarity.diagonal() >= best_columns).double().mean()) / 2
    torch.testing.assert_close(metrics["contrastive_accuracy"].double(), accuracy)


def test_siglip_chunked_autograd_graph_keeps_no_batch_by_batch_tensor():
    """What autograd saves for the backward: the dense CLIP keeps B x B tensors, chunked
    SigLIP only its (B, D) inputs (the chunks are recomputed in the backward)."""
    batch, dim = 128, 8
    z = views(2, batch=batch, dim=dim)

    def largest_saved(loss: torch.nn.Module) -> int:
        sizes: list[int] = []

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            sizes.append(tensor.numel())
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            loss(z).loss.backward()
        return max(sizes)

    assert largest_saved(CLIPLoss().double()) >= batch * batch
    assert largest_saved(SigLIPLoss(chunk_size=16).double()) <= 2 * batch * dim


@pytest.mark.parametrize("ids", [None, DUPLICATE_IDS])
def test_symile_all_combinations_match_triple_loop_reference(ids):
    loss = SymileLoss(negative_sampling="n_squared").double()
    assert_matches(lambda z: loss(z, ids=ids).loss,
                   lambda z, p: reference_symile_all(z, p[0], ids), views(3),
                   [loss.log_inverse_temperature])


def test_symile_shuffled_negatives_match_reference_with_the_same_permutations():
    loss = SymileLoss(negative_sampling="n").double()

    def ours(z: list[torch.Tensor]) -> torch.Tensor:
        torch.manual_seed(7)
        return loss(z).loss

    assert_matches(ours, lambda z, p: reference_symile_shuffled(z, p[0], seed=7), views(3),
                   [loss.log_inverse_temperature])


@pytest.mark.parametrize("negative_sampling", ["n", "n_squared"])
def test_symile_on_two_modalities_is_clip(negative_sampling):
    symile = SymileLoss(negative_sampling=negative_sampling).double()
    clip = CLIPLoss().double()
    assert_matches(lambda z: symile(z, ids=DUPLICATE_IDS).loss,
                   lambda z, p: clip(z, ids=DUPLICATE_IDS).loss, views(2), [])


def test_multilinear_inner_product():
    a, b, c = views(3)
    expected = torch.stack([sum(a[i, d] * b[i, d] * c[i, d] for d in range(DIM))
                            for i in range(BATCH)])
    torch.testing.assert_close(multilinear_inner_product(a, b, c), expected)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("ids", [None, DUPLICATE_IDS])
def test_pairwise_contrast_matches_sum_of_pair_references(reduction, ids):
    loss = PairwiseContrast(reduction=reduction).double()

    def reference(z: list[torch.Tensor], p: list[torch.Tensor]) -> torch.Tensor:
        pairs = [reference_clip(z[a], z[b], p[0], ids)
                 for a, b in itertools.combinations(range(3), 2)]
        return sum(pairs) / (1 if reduction == "sum" else len(pairs))

    assert_matches(lambda z: loss(z, ids=ids).loss, reference, views(3),
                   [loss.clip.log_inverse_temperature])
    metrics = loss(views(3)).metrics
    assert {"pair_0_1/loss", "pair_0_2/loss", "pair_1_2/contrastive_accuracy"} <= set(metrics)


@pytest.mark.parametrize("cross_weight", [0.0, 0.7])
@pytest.mark.parametrize("ids", [None, DUPLICATE_IDS])
def test_contrastive_gap_matches_reference(cross_weight, ids):
    loss = ContrastiveGapLoss(alignment_weight=0.3, uniformity_weight=0.5,
                              cross_uniformity_weight=cross_weight, t=2.0).double()

    def reference(z: list[torch.Tensor], p: list[torch.Tensor]) -> torch.Tensor:
        alignment, uniformity, cross = reference_gap_terms(z[0], z[1], ids, t=2.0)
        return (reference_clip(z[0], z[1], p[0], ids) + 0.3 * alignment + 0.5 * uniformity
                + cross_weight * cross)

    assert_matches(lambda z: loss(z, ids=ids).loss, reference, views(2),
                   [loss.clip.log_inverse_temperature])
    assert ("cross_uniformity" in loss(views(2)).metrics) == bool(cross_weight)


def test_bfloat16_embeddings_give_a_float32_loss_close_to_float32():
    z = [view.detach().float() for view in views(2, batch=8, dim=16)]
    for loss in (CLIPLoss(), SigLIPLoss(chunk_size=3), SymileLoss(), ContrastiveGapLoss()):
        half = loss([view.bfloat16() for view in z]).loss
        assert half.dtype == torch.float32
        torch.testing.assert_close(half, loss(z).loss, rtol=0.05, atol=0.05)


# ----- the temperature clamp, registration, bad input ----------------------------------------

@pytest.mark.parametrize("factory", [CLIPLoss, SigLIPLoss, SymileLoss, PairwiseContrast,
                                     ContrastiveGapLoss])
def test_learnable_temperature_is_clamped_at_logit_scale_100(factory):
    """As `Method.constrain_parameters` does after each optimizer step."""
    loss = factory()
    scales = [p for name, p in loss.named_parameters() if name.endswith("log_inverse_temperature")]
    assert len(scales) == 1
    with torch.no_grad():
        scales[0].fill_(math.log(1000.0))
    for module in loss.modules():
        clamp = getattr(module, "clamp_temperature_", None)
        if callable(clamp):
            clamp()
    torch.testing.assert_close(scales[0].exp(), torch.tensor(100.0))


def test_objectives_are_registered():
    """Read the table itself: `OBJECTIVES.get` would first import every plug-in (seconds)."""
    registered = OBJECTIVES._entries
    assert registered["clip"] is CLIPLoss
    assert registered["siglip"] is SigLIPLoss
    assert registered["symile"] is SymileLoss
    assert registered["pairwise_contrast"] is PairwiseContrast
    assert registered["contrastive_gap"] is ContrastiveGapLoss


ALL = [CLIPLoss, SigLIPLoss, SymileLoss, PairwiseContrast, ContrastiveGapLoss]
TWO_ONLY = [CLIPLoss, SigLIPLoss, ContrastiveGapLoss]


@pytest.mark.parametrize("factory", ALL)
def test_one_modality_is_refused(factory):
    with pytest.raises(ValueError, match=r"(at least|exactly) 2 modalities.*got 1"):
        factory()([torch.randn(4, 3)])


@pytest.mark.parametrize("factory", TWO_ONLY)
def test_two_modality_losses_refuse_three(factory):
    with pytest.raises(ValueError, match="exactly 2 modalities.*got 3.*pairwise_contrast"):
        factory()([torch.randn(4, 3)] * 3)


@pytest.mark.parametrize("factory", ALL)
def test_mismatched_batches_and_dims_name_the_shapes(factory):
    with pytest.raises(ValueError, match=r"modality 1 has shape \(5, 3\), modality 0 has "
                                         r"\(4, 3\).*same batch"):
        factory()([torch.randn(4, 3), torch.randn(5, 3)])
    with pytest.raises(ValueError, match=r"modality 1 has shape \(4, 6\), modality 0 has "
                                         r"\(4, 3\).*same dim"):
        factory()([torch.randn(4, 3), torch.randn(4, 6)])
    with pytest.raises(ValueError, match=r"modality 0 has shape \(4,\).*\(batch, dim\)"):
        factory()([torch.randn(4), torch.randn(4)])


@pytest.mark.parametrize("factory", ALL)
def test_ids_of_the_wrong_shape_are_refused(factory):
    with pytest.raises(ValueError, match=r"ids must have shape \(4,\).*got \(3,\)"):
        factory()([torch.randn(4, 3), torch.randn(4, 3)], ids=torch.arange(3))


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="negative_sampling must be one of.*'n_cubed'"):
        SymileLoss(negative_sampling="n_cubed")
    with pytest.raises(ValueError, match="chunk_size must be >= 1 or None; got 0"):
        SigLIPLoss(chunk_size=0)
    with pytest.raises(ValueError, match="reduction must be one of.*'max'"):
        PairwiseContrast(reduction="max")
    with pytest.raises(ValueError, match="learnable temperature is clamped"):
        CLIPLoss(temperature=0.001)


# ----- gather=True on two gloo processes ------------------------------------------------------

WORLD_SIZE, LOCAL_BATCH = 2, 4
CROSS_RANK_IDS = torch.tensor([0, 1, 2, 3, 4, 1, 6, 7])  # row 5 (rank 1) is item 1 (rank 0)


def distributed_cases() -> dict[str, tuple[Callable[[], torch.nn.Module], int, bool]]:
    """name: (loss factory taking gather, number of modalities, whether ids are given)."""
    return {
        "clip": (lambda gather: CLIPLoss(gather=gather), 2, False),
        "clip_local_loss_ids": (lambda gather: CLIPLoss(gather=gather, local_loss=True), 2,
                                True),
        "siglip_ring": (lambda gather: SigLIPLoss(chunk_size=3, gather=gather), 2, False),
        "siglip_ring_ids": (lambda gather: SigLIPLoss(chunk_size=None, gather=gather), 2,
                            True),
        "pairwise": (lambda gather: PairwiseContrast(gather=gather), 3, True),
        "contrastive_gap": (lambda gather: ContrastiveGapLoss(
            cross_uniformity_weight=1.0, gather=gather), 2, True),
        "symile_all": (lambda gather: SymileLoss(negative_sampling="n_squared", gather=gather),
                       3, True),
    }


def run_case(name: str, rows: slice, gather: bool) -> dict[str, object]:
    factory, count, with_ids = distributed_cases()[name]
    loss = factory(gather).double()
    inputs = [tensor[rows].detach().clone().requires_grad_()
              for tensor in views(count, batch=WORLD_SIZE * LOCAL_BATCH, dim=DIM, seed=11)]
    output = loss(inputs, ids=CROSS_RANK_IDS[rows] if with_ids else None)
    parameters = list(loss.parameters())
    gradients = torch.autograd.grad(output.loss, inputs + parameters)
    return {"loss": output.loss.detach(), "inputs": [g for g in gradients[:count]],
            "parameters": list(gradients[count:])}


def _rank_worker(rank: int, directory: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{os.path.join(directory, 'init')}",
                            rank=rank, world_size=WORLD_SIZE,
                            timeout=datetime.timedelta(seconds=60))
    try:
        rows = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
        results = {}
        for name in distributed_cases():
            try:
                results[name] = run_case(name, rows, gather=True)
            except Exception as error:  # recorded so one case cannot hide the others
                results[name] = {"error": f"{type(error).__name__}: {error}"}
        torch.save(results, os.path.join(directory, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.distributed
def test_gather_across_two_ranks_matches_one_process(tmp_path):
    """The DDP contract (tests/engine/test_distributed_objectives.py): mean over ranks of the
    rank losses == the one-process loss of the whole batch; rank r's input gradient == W x
    its rows of the one-process gradient; the mean of the ranks' parameter gradients == the
    one-process parameter gradient."""
    import torch.multiprocessing as mp

    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_rank_worker, args=(str(tmp_path),), nprocs=WORLD_SIZE, join=True)
    per_rank = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
                for rank in range(WORLD_SIZE)]
    for name in distributed_cases():
        ranks = [results[name] for results in per_rank]
        for rank, result in enumerate(ranks):
            assert "error" not in result, f"{name}, rank {rank}: {result.get('error')}"
        whole = run_case(name, slice(None), gather=False)
        torch.testing.assert_close(sum(r["loss"] for r in ranks) / WORLD_SIZE, whole["loss"],
                                   msg=f"{name}: loss")
        for modality, gradient in enumerate(whole["inputs"]):
            joined = torch.cat([r["inputs"][modality] for r in ranks]) / WORLD_SIZE
            torch.testing.assert_close(joined, gradient, msg=f"{name}: input {modality}")
        for index, gradient in enumerate(whole["parameters"]):
            mean = sum(r["parameters"][index] for r in ranks) / WORLD_SIZE
            torch.testing.assert_close(mean, gradient, msg=f"{name}: parameter {index}")
