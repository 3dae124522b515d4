"""TimesURL's universum negatives in TS2Vec's hierarchical loss, against a loop reference
written from the paper's formulas with the shifts replayed from the same generator."""

from __future__ import annotations

import pytest
import torch

from contrastlearn.modalities.timeseries.encoders import TS2VecEncoder
from contrastlearn.modalities.timeseries.methods.ts2vec import TS2Vec
from contrastlearn.objectives.hierarchical import HierarchicalContrastive, universum
from tests.objectives.pyramid import pyramid_loss


def universum_contrast(first, second, mix, shifts) -> float:
    """Groups (G, N, D): each of the 2N items scores the other 2N - 1 items and the 2N
    mixtures mix * z_i + (1 - mix) * z_((i + k) mod N) of each view (k = shifts[view]); the
    counterpart in the other view is the target. Mean over all items of all groups."""
    losses = []
    for a, b in zip(first.double(), second.double()):
        count = len(a)
        items = torch.cat([a, b])
        mixtures = [mix * view[i] + (1 - mix) * view[(i + shift) % count]
                    for view, shift in ((a, shifts[0]), (b, shifts[1])) for i in range(count)]
        for i in range(2 * count):
            candidates = [items[j] for j in range(2 * count) if j != i] + mixtures
            scores = torch.stack([items[i] @ c for c in candidates])
            target = i + count - 1 if i < count else i - count
            losses.append(-torch.log_softmax(scores, 0)[target])
    return float(torch.stack(losses).mean())


def replayed_hierarchical(first, second, mix, generator, alpha=0.5) -> float:
    """TS2Vec's pyramid with universum negatives; shifts drawn in the loss's documented
    order (per scale: instance, then temporal; per term: first view, then second)."""
    def shifts(count):
        return [int(torch.randint(1, count, (1,), generator=generator)) for _ in range(2)]

    def term(a, b, scale):
        return universum_contrast(a, b, mix, shifts(a.shape[1]))

    return pyramid_loss(first, second, term, term, alpha)


@pytest.mark.parametrize("length,mix,alpha", [(6, 0.2, 0.5), (9, 0.0, 0.3), (1, 0.5, 0.5)])
def test_universum_loss_matches_loop_reference(length, mix, alpha):
    data = torch.Generator().manual_seed(length)
    first = torch.randn(4, length, 3, generator=data)
    second = torch.randn(4, length, 3, generator=data)
    got = HierarchicalContrastive(alpha, universum_mix=mix)(
        first, second, generator=torch.Generator().manual_seed(7)).loss
    want = replayed_hierarchical(first, second, mix, torch.Generator().manual_seed(7), alpha)
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_universum_negatives_make_the_loss_harder_and_carry_gradients():
    data = torch.Generator().manual_seed(0)
    first = torch.randn(5, 8, 4, generator=data, dtype=torch.float64, requires_grad=True)
    second = torch.randn(5, 8, 4, generator=data, dtype=torch.float64, requires_grad=True)
    plain = HierarchicalContrastive()(first, second).loss
    harder = HierarchicalContrastive(universum_mix=0.2)(
        first, second, generator=torch.Generator().manual_seed(1)).loss
    assert float(harder.detach()) > float(plain.detach())
    torch.autograd.gradcheck(lambda a, b: HierarchicalContrastive(universum_mix=0.2)(
        a, b, generator=torch.Generator().manual_seed(1)).loss, (first, second))


def test_universum_mixes_each_item_with_a_different_one():
    items = torch.arange(5.0)[None, :, None].repeat(2, 1, 3)  # item i holds the value i
    mixtures = universum(items, items + 10, 0.25, torch.Generator().manual_seed(3))
    assert mixtures.shape == (2, 10, 3)
    for view, offset in ((mixtures[:, :5], 0.0), (mixtures[:, 5:], 10.0)):
        partners = (view[0, :, 0] - 0.25 * (torch.arange(5.0) + offset)) / 0.75 - offset
        shift = int(partners[0])
        assert 1 <= shift <= 4
        assert torch.allclose(partners, (torch.arange(5.0) + shift) % 5)


def test_universum_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="universum_mix"):
        HierarchicalContrastive(universum_mix=1.0)
    with pytest.raises(ValueError, match="hard targets"):
        HierarchicalContrastive(temporal_tau=1.0, universum_mix=0.2)
    views = torch.randn(3, 4, 2), torch.randn(3, 4, 2)
    with pytest.raises(ValueError, match="generator"):
        HierarchicalContrastive(universum_mix=0.2)(*views)
    with pytest.raises(ValueError, match="hard targets"):
        HierarchicalContrastive(universum_mix=0.2)(*views, torch.ones(3, 3),
                                                   torch.Generator())


def test_ts2vec_universum_changes_the_loss_and_advances_the_generator():
    """A mix changes TS2Vec's loss and draws from the method's generator (whose state is
    checkpointed, so resumed runs replay the same shifts)."""
    x = torch.randn(6, 1, 24, generator=torch.Generator().manual_seed(0))
    losses, states = [], []
    for mix in (None, 0.2):
        torch.manual_seed(0)
        encoder = TS2VecEncoder(in_channels=1, hidden_dim=8, out_dim=16, depth=2)
        method = TS2Vec(encoder, seed=5, universum_mix=mix)
        losses.append(float(method.training_step([x], labels=None, ids=None).loss.detach()))
        states.append(method.rng_state.clone())
    assert losses[1] != losses[0]
    assert not torch.equal(states[1], states[0])
