"""LocalGlobalBCE (DGI's discriminator loss) against an explicit per-node loop."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from contrastlearn.core.registry import OBJECTIVES
from contrastlearn.objectives import LocalGlobalBCE


def per_node_reference(local, negative, summaries, assignment, weight, bias):
    """Each node's two binary cross-entropies, one node at a time, as in DGI's definition:
    positive (local_i, s_graph(i)) labelled 1, negative (negative_i, s_graph(i)) labelled 0."""
    terms = []
    for node in range(local.shape[0]):
        summary = summaries[int(assignment[node])]
        positive_logit = torch.dot(local[node], torch.mv(weight, summary)) + bias
        negative_logit = torch.dot(negative[node], torch.mv(weight, summary)) + bias
        terms.append(F.binary_cross_entropy_with_logits(positive_logit,
                                                        torch.ones_like(positive_logit)))
        terms.append(F.binary_cross_entropy_with_logits(negative_logit,
                                                        torch.zeros_like(negative_logit)))
    return torch.stack(terms).mean()


def random_inputs(nodes=7, graphs=3, dim=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    local = torch.randn(nodes, dim, generator=generator, dtype=torch.float64)
    negative = torch.randn(nodes, dim, generator=generator, dtype=torch.float64)
    summaries = torch.rand(graphs, dim, generator=generator, dtype=torch.float64)
    assignment = torch.randint(graphs, (nodes,), generator=generator)
    return [t.requires_grad_() for t in (local, negative, summaries)], assignment


@pytest.mark.parametrize("bias", [True, False])
def test_value_and_gradient_match_the_per_node_loop(bias):
    (local, negative, summaries), assignment = random_inputs()
    loss_fn = LocalGlobalBCE(4, bias=bias).double()
    if bias:
        with torch.no_grad():
            loss_fn.bias.fill_(0.3)
    parameters = [loss_fn.weight] + ([loss_fn.bias] if bias else [])
    inputs = [local, negative, summaries, *parameters]
    loss = loss_fn(local, negative, summaries, assignment).loss
    reference = per_node_reference(local, negative, summaries, assignment, loss_fn.weight,
                                   loss_fn.bias if bias else torch.zeros((), dtype=torch.float64))
    torch.testing.assert_close(loss, reference)
    got = torch.autograd.grad(loss, inputs)
    expected = torch.autograd.grad(reference, inputs)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


def test_accuracy_counts_pairs_on_the_right_side():
    loss_fn = LocalGlobalBCE(2, bias=False)
    with torch.no_grad():
        loss_fn.weight.copy_(torch.eye(2))
    summaries = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assignment = torch.tensor([0, 1, 1])
    aligned = torch.tensor([[2.0, 0.0], [0.0, 3.0], [0.5, 1.0]])
    output = loss_fn(aligned, -aligned, summaries, assignment)
    assert float(output.metrics["accuracy"]) == 1.0
    output = loss_fn(-aligned, aligned, summaries, assignment)
    assert float(output.metrics["accuracy"]) == 0.0
    half = loss_fn(aligned, aligned, summaries, assignment)
    assert float(half.metrics["accuracy"]) == 0.5
    assert output.loss > half.loss > loss_fn(aligned, -aligned, summaries, assignment).loss


def test_registered_under_its_name():
    built = OBJECTIVES.build("local_global_bce", dim=3)
    assert isinstance(built, LocalGlobalBCE) and built.weight.shape == (3, 3)


@pytest.mark.parametrize(("change", "message"), [
    ({"local": torch.randn(3, 5)}, r"local must be \(N > 0, 4\)"),
    ({"local": torch.randn(0, 4), "local_negative": torch.randn(0, 4),
      "assignment": torch.zeros(0, dtype=torch.long)}, r"local must be \(N > 0, 4\)"),
    ({"local_negative": torch.randn(2, 4)}, "local_negative must match local"),
    ({"summaries": torch.randn(2, 3)}, r"summaries must be \(num_graphs, 4\)"),
    ({"assignment": torch.zeros(3)}, "assignment must be int64 of shape"),
    ({"assignment": torch.zeros(2, dtype=torch.long)}, "assignment must be int64 of shape"),
])
def test_bad_inputs_are_named(change, message):
    inputs = {"local": torch.randn(3, 4), "local_negative": torch.randn(3, 4),
              "summaries": torch.randn(2, 4), "assignment": torch.tensor([0, 1, 1])}
    inputs.update(change)
    with pytest.raises(ValueError, match=message):
        LocalGlobalBCE(4)(**inputs)
    with pytest.raises(ValueError, match="dim > 0"):
        LocalGlobalBCE(0)
