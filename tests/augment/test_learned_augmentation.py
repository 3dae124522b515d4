"""The modality-free half of AutoTCL's learned views (contrastlearn.augment.learned): the
smoothness over neighbouring positions, the hard-concrete mask and the generator's objective,
each against a naive reference written here (value and gradient)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from contrastlearn.augment.learned import LearnedAugmentation, neighbour_smoothness


def _naive_smoothness(scores: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Loop over every position and its next neighbour along each axis."""
    total, count = scores.new_zeros(()), 0
    shape = scores.shape[1:]
    for sample in range(scores.shape[0]):
        for position in itertools.product(*(range(size) for size in shape)):
            for axis in range(len(shape)):
                neighbour = list(position)
                neighbour[axis] += 1
                if neighbour[axis] >= shape[axis]:
                    continue
                here, there = (sample, *position), (sample, *neighbour)
                if valid[here] and valid[there]:
                    total = total + (scores[here] - scores[there]).abs()
                    count += 1
    return total / count


@pytest.mark.parametrize("shape", [(3, 7), (2, 4, 5)])
def test_smoothness_matches_a_loop_in_value_and_gradient(shape):
    scores = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    valid = torch.rand(shape, generator=torch.Generator().manual_seed(1)) > 0.3
    fast_input = scores.clone().requires_grad_(True)
    slow_input = scores.clone().requires_grad_(True)
    fast, slow = neighbour_smoothness(fast_input, valid), _naive_smoothness(slow_input, valid)
    fast.backward()
    slow.backward()
    assert fast.item() == pytest.approx(slow.item(), rel=1e-12)
    torch.testing.assert_close(fast_input.grad, slow_input.grad)


def test_smoothness_without_valid_pairs_is_zero_with_a_gradient():
    scores = torch.rand(2, 4, requires_grad=True)
    valid = torch.tensor([[True, False, True, False], [False, False, False, True]])
    value = neighbour_smoothness(scores, valid)
    value.backward()
    assert value.item() == 0.0 and torch.equal(scores.grad, torch.zeros(2, 4))


def test_hard_concrete_mask_is_binary_seeded_and_has_the_relaxation_gradient():
    generator = LearnedAugmentation(temperature=0.5, stretch=0.1)
    location = torch.rand(4, 6, generator=torch.Generator().manual_seed(3)).requires_grad_(True)
    mask = generator.sample_mask(location, torch.Generator().manual_seed(7))
    again = generator.sample_mask(location, torch.Generator().manual_seed(7))
    assert set(mask.unique().tolist()) <= {0.0, 1.0} and torch.equal(mask, again)
    weights = torch.randn(4, 6, generator=torch.Generator().manual_seed(4))
    (mask * weights).sum().backward()
    # reference: the stretched, clamped concrete sample written from its definition
    reference_location = location.detach().clone().requires_grad_(True)
    u = torch.rand(4, 6, generator=torch.Generator().manual_seed(7)).clamp(1e-6, 1 - 1e-6)
    logistic = torch.log(u / (1 - u))
    soft = 1 / (1 + torch.exp(-(reference_location + logistic) / 0.5))
    soft = torch.clamp(soft * 1.1 - 0.1, 0, 1)
    assert torch.equal(mask, (soft > 0.5).float())
    (soft * weights).sum().backward()
    torch.testing.assert_close(location.grad, reference_location.grad)


def _naive_mmd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    points = list(a) + list(b)
    squared = [((p - q) ** 2).sum() for p in points for q in points]
    bandwidth = sum(s.detach() for s in squared) / (len(points) ** 2 - len(points))

    def kernel(p, q):
        d = ((p - q) ** 2).sum()
        return sum(torch.exp(-d / (bandwidth * 2.0 ** (i - 2))) for i in range(5))

    def mean_kernel(xs, ys):
        return sum(kernel(p, q) for p in xs for q in ys) / (len(xs) * len(ys))

    return mean_kernel(a, a) + mean_kernel(b, b) - 2 * mean_kernel(a, b)


def test_objective_matches_its_terms_in_value_and_gradient():
    """loss = MMD(encode(source), encode(view)) + size_weight * relu(mean h - target)
    + smooth_weight * smoothness, the mean and smoothness over valid positions of a 2-D map."""
    generator = LearnedAugmentation(keep_target=0.3, size_weight=0.5, smooth_weight=0.25)
    seed = torch.Generator().manual_seed(5)
    source = torch.randn(4, 3, generator=seed, dtype=torch.float64)
    view = torch.randn(4, 3, generator=seed, dtype=torch.float64)
    informative = torch.rand(4, 3, 5, generator=seed, dtype=torch.float64)
    valid = torch.rand(4, 3, 5, generator=seed) > 0.2
    mask = (torch.rand(4, 3, 5, generator=seed) > 0.5).double()
    inputs = [t.clone().requires_grad_(True) for t in (view, informative)]
    output = generator.loss(lambda x: x, source, inputs[0], {
        "informative": inputs[1], "mask": mask, "valid": valid})
    output.loss.backward()

    reference_inputs = [t.clone().requires_grad_(True) for t in (view, informative)]
    kept = [reference_inputs[1][tuple(index)] for index in valid.nonzero().tolist()]
    mean_kept = sum(kept) / len(kept)
    reference = (_naive_mmd(source, reference_inputs[0])
                 + 0.5 * torch.clamp(mean_kept - 0.3, min=0)
                 + 0.25 * _naive_smoothness(reference_inputs[1], valid))
    reference.backward()
    assert output.loss.item() == pytest.approx(reference.item(), rel=1e-10)
    for fast, slow in zip(inputs, reference_inputs):
        torch.testing.assert_close(fast.grad, slow.grad)
    assert float(output.metrics["kept_fraction"]) == pytest.approx(float(mask[valid].mean()))
    assert float(output.metrics["informative"]) == pytest.approx(mean_kept.item())
    assert math.isfinite(float(output.metrics["mmd"]))


@pytest.mark.parametrize("settings", [{"temperature": 0.0}, {"stretch": -0.1},
                                      {"keep_target": 1.5}])
def test_bad_settings_are_refused(settings):
    with pytest.raises(ValueError, match="temperature > 0"):
        LearnedAugmentation(**settings)
