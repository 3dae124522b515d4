"""Linear probe: how linearly separable the frozen embeddings are.

The protocol is fixed and deterministic, so numbers are comparable across runs and papers-style
tables (as in SimCLR, Chen et al. 2020, arXiv 2002.05709, which trains an L2-regularised
multinomial logistic regression with L-BFGS on frozen features):

1. Standardise every feature with the train mean and (population) std; constant features get
   scale 1. The test set uses the train statistics.
2. Fit a multinomial logistic regression (softmax, with bias) from zero initialisation by
   full-batch L-BFGS with a strong-Wolfe line search, minimising
   ``mean cross-entropy + weight_decay / 2 * ||W||_F^2`` (the bias is not penalised),
   for at most `max_iter` iterations. This equals scikit-learn's
   ``LogisticRegression(C=1 / (weight_decay * num_train))``.
3. Report top-1 accuracy on the test embeddings. Test labels whose class never occurs in train
   count as errors.

Cost per iteration is a few (N, D) x (D, C) matmuls, so 60,000 x 512 with 10 classes takes
seconds on two CPU cores; no minibatches, learning rate or epochs to tune.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.validation import (
    check_embeddings,
    check_train_embeddings,
    encode_labels,
    resolve_device,
)


@dataclass
class LinearClassifier:
    """A fitted linear probe: standardisation statistics, softmax weights and the classes.

    `predict` returns labels in the caller's label values (``classes[argmax]``).
    """

    classes: Tensor  # (C,) original label values, sorted
    mean: Tensor  # (D,) train feature mean (zeros when not standardising)
    scale: Tensor  # (D,) train feature std, constant features set to 1 (ones when not)
    weight: Tensor  # (C, D) weights on standardised features
    bias: Tensor  # (C,)
    num_iterations: int
    train_loss: float

    def logits(self, x: Tensor) -> Tensor:
        """(N, C) class scores for raw (unstandardised) embeddings `x`."""
        x = x.to(device=self.weight.device, dtype=self.weight.dtype)
        return torch.addmm(self.bias, (x - self.mean) / self.scale, self.weight.T)

    def predict_index(self, x: Tensor) -> Tensor:
        """(N,) predicted class indices into `classes`."""
        return self.logits(x).argmax(dim=1)

    def predict(self, x: Tensor) -> Tensor:
        """(N,) predicted labels."""
        return self.classes[self.predict_index(x)]


def _standardize_statistics(x: Tensor) -> tuple[Tensor, Tensor]:
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False)
    # A feature that never varies carries no information; leave it at scale 1 instead of
    # dividing rounding noise by ~0.
    constant = std <= 1e-6 * mean.abs() + 1e-12
    return mean, torch.where(constant, torch.ones_like(std), std)


def fit_linear_probe(
    train_x: Any, train_y: Any, *,
    weight_decay: float = 1e-4, max_iter: int = 200, standardize: bool = True,
    device: torch.device | str | None = None,
) -> LinearClassifier:
    """Fit the linear-probe classifier of this module's protocol on (N, D) embeddings.

    Inputs are validated like every evaluator's (see `check_embeddings`).
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    device = resolve_device(device)
    train_x, train_y = check_train_embeddings(train_x, train_y, device=device)
    classes, train_index, _ = encode_labels(train_y, train_y[:1])
    num_classes, dim = classes.numel(), train_x.shape[1]

    if standardize:
        mean, scale = _standardize_statistics(train_x)
        features = (train_x - mean) / scale
    else:
        mean = torch.zeros(dim, device=device)
        scale = torch.ones(dim, device=device)
        # Tensors made under torch.inference_mode cannot be saved for backward: copy them.
        features = train_x.clone() if train_x.is_inference() else train_x

    weight = torch.zeros(num_classes, dim, device=device, requires_grad=True)
    bias = torch.zeros(num_classes, device=device, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=int(max_iter), history_size=20,
        line_search_fn="strong_wolfe", tolerance_grad=1e-7, tolerance_change=1e-9,
    )

    def closure() -> Tensor:
        optimizer.zero_grad(set_to_none=False)
        logits = torch.addmm(bias, features, weight.T)
        loss = F.cross_entropy(logits, train_index)
        if weight_decay > 0:
            loss = loss + 0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        loss = optimizer.step(closure)
    num_iterations = int(optimizer.state[weight].get("n_iter", 0))
    return LinearClassifier(
        classes=classes, mean=mean, scale=scale, weight=weight.detach(), bias=bias.detach(),
        num_iterations=num_iterations, train_loss=float(loss.detach()),
    )


@EVALUATORS.register("linear_probe")
def linear_probe(
    train_embeddings: Any, train_labels: Any, test_embeddings: Any, test_labels: Any, *,
    weight_decay: float = 1e-4, max_iter: int = 200, standardize: bool = True,
    device: torch.device | str | None = "cpu", split: str = "test",
) -> Result:
    """Top-1 accuracy of an L2-regularised softmax regression fit by full-batch L-BFGS.

    See the module docstring for the exact protocol. `settings` records the protocol
    (weight_decay, max_iter, standardize, solver) and the problem size (num_train, num_test,
    dim, num_classes), plus the iterations L-BFGS actually ran (`num_iterations`).
    """
    device = resolve_device(device)
    train_x, train_y, test_x, test_y = check_embeddings(
        train_embeddings, train_labels, test_embeddings, test_labels, device=device
    )
    classifier = fit_linear_probe(
        train_x, train_y, weight_decay=weight_decay, max_iter=max_iter,
        standardize=standardize, device=device,
    )
    _, _, test_index = encode_labels(train_y, test_y)
    with torch.no_grad():
        correct = classifier.predict_index(test_x) == test_index
    return Result(
        protocol="linear_probe", metric="top1", value=int(correct.sum()) / correct.numel(),
        split=split,
        settings={
            "weight_decay": float(weight_decay), "max_iter": int(max_iter),
            "standardize": bool(standardize), "solver": "lbfgs_strong_wolfe",
            "num_train": int(train_x.shape[0]), "num_test": int(test_x.shape[0]),
            "dim": int(train_x.shape[1]), "num_classes": int(classifier.classes.numel()),
            "num_iterations": classifier.num_iterations,
        },
    )
