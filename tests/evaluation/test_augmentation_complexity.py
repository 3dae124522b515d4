"""The augmentation complexity estimate (Zhai et al. 2023, arXiv 2306.00788): cases known by
hand, a naive loop reference, monotonicity in noise strength, determinism and bad inputs."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from contrastlearn.augment.views import ViewPipeline, Views
from contrastlearn.evaluation.augmentation_complexity import augmentation_complexity


def _points(count: int, dim: int, seed: int = 0, scale: float = 3.0) -> torch.Tensor:
    return scale * torch.randn(count, dim, generator=torch.Generator().manual_seed(seed))


def _noise(sigma: float):
    def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return batch + sigma * torch.randn(batch.shape, generator=generator)
    return augment


def test_identity_views_give_the_identity_kernel_and_the_largest_kappa():
    # views equal to their input: each view names its input, K = N I, kappa^2 = N
    x = _points(12, 300)  # more than 256 raw features: through the random projection too
    views = Views([ViewPipeline(lambda batch, generator: batch.clone(), count=2)])
    result = augmentation_complexity(views, x, num_views=4, top_d=20)
    assert torch.equal(result.kernel, torch.eye(12, dtype=torch.float64))
    assert result.kappa == pytest.approx(math.sqrt(12))
    assert result.kappa_mean == pytest.approx(math.sqrt(12))
    assert result.eigenvalues == pytest.approx([1.0] * 12)  # top_d above N: all N of them
    assert result.bandwidth == 0 and result.num_views == 4 and result.num_samples == 12


def test_views_that_keep_only_the_cluster_give_a_block_kernel():
    # every view is its input's cluster code: G = 1/n on same-cluster pairs, k eigenvalues 1,
    # the rest 0, kappa^2 = N max G_ii = k
    k, n = 4, 5
    cluster = torch.arange(k * n) % k
    x = _points(k * n, 3)

    def cluster_code(batch, generator):
        return nn.functional.one_hot(cluster, k).float()

    result = augmentation_complexity(cluster_code, x, num_views=3, top_d=6)
    same = (cluster[:, None] == cluster[None, :]).double() / n
    assert torch.allclose(result.kernel, same)
    assert result.kappa == pytest.approx(math.sqrt(k))
    assert result.eigenvalues == pytest.approx([1, 1, 1, 1, 0, 0], abs=1e-12)


def test_random_members_of_a_cluster_approach_the_block_kernel():
    # views are random members of the input's cluster (they vary, so the soft assignment
    # is used): the top k eigenvalues are about 1 with a gap after them, kappa_mean^2 about k
    k, n = 3, 8
    cluster = torch.arange(k * n) % k
    x = 10 * nn.functional.one_hot(cluster, k).float() + _points(k * n, k, scale=1.0)
    members = torch.stack([torch.nonzero(cluster == c).flatten() for c in range(k)])

    def member(batch, generator):
        return batch[members[cluster, torch.randint(0, n, (len(batch),), generator=generator)]]

    result = augmentation_complexity(member, x, num_views=16)
    assert result.eigenvalues[:k] == pytest.approx([1.0] * k, abs=0.01)
    assert result.eigenvalues[k] < 0.5
    assert result.kappa_mean ** 2 == pytest.approx(k, rel=0.2)


def _naive_kernel(features: torch.Tensor) -> torch.Tensor:
    """The estimate written out with loops: leave-view-m-out centres, pooled variance, the
    Gaussian posterior of each view over the centres, averaged over views, symmetrised."""
    views, count, dim = features.shape
    means = [sum(features[m, i] for m in range(views)) / views for i in range(count)]
    spread = sum(float(((features[m, i] - means[i]) ** 2).sum())
                 for m in range(views) for i in range(count))
    variance = spread / (count * (views - 1) * dim) * views / (views - 1)
    kernel = torch.zeros(count, count, dtype=torch.float64)
    for i in range(count):
        for m in range(views):
            scores = []
            for j in range(count):
                others = [features[v, j] for v in range(views) if v != m]
                centre = sum(others) / len(others)
                scores.append(math.exp(-float(((features[m, i] - centre) ** 2).sum())
                                       / (2 * variance)))
            for j in range(count):
                kernel[i, j] += scores[j] / sum(scores) / views
    return (kernel + kernel.T) / 2


def test_matches_a_naive_loop_reference():
    x = _points(6, 2, scale=1.0)
    augment = _noise(0.7)
    result = augmentation_complexity(augment, x, num_views=3, seed=5)
    generator = torch.Generator().manual_seed(5)
    features = torch.stack([augment(x, generator) for _ in range(3)]).double()
    reference = _naive_kernel(features)
    assert torch.allclose(result.kernel, reference, atol=1e-10)
    assert result.kappa == pytest.approx(math.sqrt(6 * float(reference.diagonal().max())))
    assert result.kappa_mean == pytest.approx(math.sqrt(float(reference.trace())))
    assert result.eigenvalues[:3] == pytest.approx(
        sorted(torch.linalg.eigvalsh(reference).tolist(), reverse=True)[:3])


def test_kappa_falls_as_the_noise_grows():
    x = _points(24, 3, scale=1.0)
    results = [augmentation_complexity(_noise(sigma), x, num_views=8, seed=1)
               for sigma in (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)]
    means = [r.kappa_mean for r in results]
    sups = [r.kappa for r in results]
    assert means[0] == pytest.approx(math.sqrt(24))
    assert all(a > b for a, b in zip(means, means[1:])), means
    assert all(a >= b - 1e-9 for a, b in zip(sups, sups[1:])), sups
    assert sups[-1] < sups[0]
    assert means[-1] < 2  # views that nearly forget their input approach kappa = 1


def test_feature_maps_module_and_callable_are_used():
    # a rotated and scaled copy of the raw features: the kernel does not change
    x = _points(10, 4, scale=1.0)
    rotation = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(2)))[0]
    linear = nn.Linear(4, 4, bias=False)
    linear.weight.data = 3 * rotation
    raw = augmentation_complexity(_noise(0.5), x, seed=3)
    through_module = augmentation_complexity(_noise(0.5), x, seed=3, feature_map=linear)
    through_callable = augmentation_complexity(_noise(0.5), x, seed=3,
                                               feature_map=lambda batch: batch @ rotation.T)
    assert torch.allclose(through_module.kernel, raw.kernel, atol=1e-4)
    assert torch.allclose(through_callable.kernel, raw.kernel, atol=1e-4)
    assert through_module.bandwidth == pytest.approx(3 * raw.bandwidth, rel=1e-4)


def test_deterministic_under_a_seed():
    x = _points(16, 5)
    first = augmentation_complexity(_noise(1.0), x, seed=7)
    again = augmentation_complexity(_noise(1.0), x, seed=7)
    other = augmentation_complexity(_noise(1.0), x, seed=8)
    assert torch.equal(first.kernel, again.kernel) and first.kappa == again.kappa
    assert not torch.equal(first.kernel, other.kernel)
    saved = json.loads(json.dumps(first.to_dict()))
    assert saved["kappa"] == first.kappa and len(saved["eigenvalues"]) == 10


@pytest.mark.parametrize(("x", "kwargs", "message"), [
    (torch.zeros(1, 3), {}, "at least 2 samples, got 1"),
    (torch.tensor(1.0), {}, "at least 2 samples, got 0"),
    (torch.zeros(4, 3), {"num_views": 1}, "num_views must be >= 2"),
    (torch.zeros(4, 3), {"top_d": 0}, "top_d must be >= 1"),
    (torch.zeros(4, 3), {"feature_map": lambda batch: batch[:, :, None]},
     r"feature_map must return \(batch, dim\)"),
])
def test_bad_input_is_a_one_line_error(x, kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        augmentation_complexity(_noise(1.0), x, **kwargs)
    assert "\n" not in str(error.value)


def test_views_of_several_shapes_need_an_encoder():
    def multi_crop(batch, generator):
        return [batch, batch[:, :2]]

    with pytest.raises(ValueError, match="views of one shape.*pass feature_map") as error:
        augmentation_complexity(multi_crop, torch.zeros(4, 3))
    assert "\n" not in str(error.value)
    pooled = augmentation_complexity(multi_crop, _points(4, 3),
                                     feature_map=lambda batch: batch.sum(1, keepdim=True))
    assert pooled.num_samples == 4
