"""Language-only probe: train a classifier on text embeddings, test it on image embeddings of
the same multimodal model, the cross-modal transfer of CLOSE (Gu et al. 2022, "I Can't Believe
There's No Images! Learning Visual Tasks Using only Language Supervision", arXiv 2211.09778).

Text and image embeddings of matching content do not coincide (the modality gap, Liang et al.
2022, arXiv 2203.02053), so a classifier fit on clean text sees inputs at test time unlike any
it was trained on. CLOSE trains on L2-normalised text embeddings plus isotropic Gaussian noise,
renormalised, so the classifier learns to read a whole neighbourhood of each text embedding.
Its released code (allenai/close, ``close/experiments/train.py`` and
``close/model/language_adapters.py``) uses the noise scale as a standard deviation per
dimension, 0.04 by default for VQA and multi-caption captioning, 0.08 for visual entailment and
0.12 for single-caption captioning; 0.04 is the default here. CLOSE draws fresh noise at every
training step of a network; this probe's classifier is fit by full-batch L-BFGS, so it is fit
on `copies` noisy copies of the text set instead, which approximates the same expected loss.

Reported next to the noisy probe: the same classifier on clean text (the ablation), and
optionally with each modality mean-centred (its mean unit embedding subtracted, then
renormalised), which removes a constant offset between the modalities; the image mean is taken
over the unlabelled test images (transductive).

The classifier is `contrastlearn.evaluation.linear.fit_linear_probe` (softmax regression,
L-BFGS) without standardisation, which would rescale the isotropic noise per feature.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation.linear import fit_linear_probe
from contrastlearn.evaluation.result import Result, merge_settings
from contrastlearn.evaluation.validation import check_embeddings, encode_labels, resolve_device

CLOSE_NOISE_STD = 0.04


def noisy_copies(unit: Tensor, labels: Tensor, noise_std: float, copies: int,
                 generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """`copies` stacked copies of the (N, D) unit vectors, each plus fresh N(0, noise_std^2)
    noise per coordinate (drawn on the CPU from `generator`) and renormalised, with labels."""
    noise = torch.randn((copies * unit.shape[0], unit.shape[1]), generator=generator)
    noisy = unit.repeat(copies, 1) + noise_std * noise.to(unit.device)
    return F.normalize(noisy, dim=1), labels.repeat(copies)


def mean_centred(unit: Tensor) -> Tensor:
    """Unit vectors minus their mean, renormalised."""
    return F.normalize(unit - unit.mean(dim=0), dim=1)


def _transfer_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_index: Tensor,
                       **probe_settings: Any) -> tuple[float, int]:
    """(top-1 accuracy on the test set, L-BFGS iterations) of a probe fit on train."""
    classifier = fit_linear_probe(train_x, train_y, standardize=False, **probe_settings)
    with torch.no_grad():
        correct = classifier.predict_index(test_x) == test_index
    return int(correct.sum()) / correct.numel(), classifier.num_iterations


@EVALUATORS.register("language_only_probe")
def language_only_probe(
    text_train: Any, y_train: Any, image_test: Any, y_test: Any, *,
    noise_std: float = CLOSE_NOISE_STD, copies: int = 10, seeds: Sequence[int] = (0, 1, 2),
    mean_centre: bool = False, weight_decay: float = 1e-4, max_iter: int = 200,
    device: torch.device | str | None = "cpu", split: str = "test",
) -> list[Result]:
    """Top-1 accuracy on (M, D) image embeddings of a linear classifier fit on (N, D) text
    embeddings only: with CLOSE noise, without (the ablation), and with mean-centring when
    `mean_centre`.

    Results, metric "top1": protocol "language_only_probe" (noise of std `noise_std` on
    `copies` copies, mean and sample std over `seeds`), "language_only_probe_no_noise" (one
    deterministic fit), and "language_only_probe_centred" (centring plus noise, over seeds).
    Settings record noise_std, copies, classifier, normalisation, centring and the problem
    size. Test labels whose class has no text embedding count as errors.
    """
    try:
        std = float(noise_std)
    except (TypeError, ValueError):
        std = math.nan
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"noise_std must be a finite number > 0 (the no-noise ablation is "
                         f"always reported alongside), got {noise_std!r}")
    if int(copies) < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    seeds = [int(seed) for seed in ((seeds,) if isinstance(seeds, int) else seeds)]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct integers, got {seeds}")
    device = resolve_device(device)
    try:
        text_x, text_y, image_x, image_y = check_embeddings(
            text_train, y_train, image_test, y_test, device=device)
    except ValueError as error:
        raise ValueError(f"language_only_probe: {error} (the text embeddings are checked as "
                         f"'train', the image embeddings as 'test')") from None
    _, _, test_index = encode_labels(text_y, image_y)
    text_unit, image_unit = F.normalize(text_x, dim=1), F.normalize(image_x, dim=1)
    probe = {"weight_decay": float(weight_decay), "max_iter": int(max_iter), "device": device}
    shared = {
        "classifier": "softmax regression (linear_probe machinery, L-BFGS, not standardised)",
        "weight_decay": float(weight_decay), "max_iter": int(max_iter),
        "normalisation": "L2 (text before and after noise, images)",
        "train_modality": "text", "test_modality": "image",
        "num_train": int(text_x.shape[0]), "num_test": int(image_x.shape[0]),
        "dim": int(text_x.shape[1]), "num_classes": int(torch.unique(text_y).numel()),
    }

    noisy = {"noise_std": std, "copies": int(copies), "seeds": seeds,
             "noise": "isotropic Gaussian per coordinate, then renormalised (CLOSE)"}
    results = [_noisy_result("language_only_probe", text_unit, text_y, image_unit, test_index,
                             probe, {**noisy, "mean_centre": False, **shared}, split)]
    accuracy, iterations = _transfer_accuracy(text_unit, text_y, image_unit, test_index, **probe)
    results.append(Result("language_only_probe_no_noise", "top1", accuracy, split, {
        "noise_std": 0.0, "copies": 1, "mean_centre": False, **shared,
        "num_iterations": iterations}))
    if mean_centre:
        results.append(_noisy_result(
            "language_only_probe_centred", mean_centred(text_unit), text_y,
            mean_centred(image_unit), test_index, probe,
            {**noisy, "mean_centre": True, **shared,
             "centring": "per modality; image mean over the unlabelled test images"}, split))
    return results


def _noisy_result(protocol: str, text: Tensor, text_y: Tensor, images: Tensor,
                  test_index: Tensor, probe: dict[str, Any], settings: dict[str, Any],
                  split: str) -> Result:
    """Mean and sample std over settings["seeds"] of the accuracy of probes fit on noisy
    copies of the unit `text` vectors."""
    values, per_seed = [], []
    for seed in settings["seeds"]:
        generator = torch.Generator().manual_seed(seed)
        train_x, train_y = noisy_copies(text, text_y, settings["noise_std"], settings["copies"],
                                        generator)
        accuracy, iterations = _transfer_accuracy(train_x, train_y, images, test_index, **probe)
        values.append(accuracy)
        per_seed.append({"num_iterations": iterations})
    mean = sum(values) / len(values)
    std = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
           if len(values) > 1 else 0.0)
    return Result(protocol, "top1", mean, split,
                  {**settings, "std_ddof": 1, "values_per_seed": values,
                   **merge_settings(per_seed)}, std=std, num_seeds=len(values))
