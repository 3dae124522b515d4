"""Zero-shot classification with a multimodal (CLIP-style) model: every class is described by
text prompts ("a photo of a {class}."), the prompts are embedded by the text encoder, and an
image is assigned the class whose prompt embedding is most cosine-similar to its own (Radford et
al. 2021, "Learning Transferable Visual Models From Natural Language Supervision", arXiv
2103.00020). No classifier is trained.

With several prompts per class (prompt ensembling, CLIP section 3.1.4), each prompt embedding is
L2-normalised, the class's prompts are averaged, and the mean is L2-normalised again, so the
class prototype is the mean direction of its prompts, as in CLIP's released notebook.

The embeddings come from any two encoders of one shared space, so nothing here knows a
modality: "image" is whatever was classified, "class embeddings" whatever described the classes.
Ties count against the prediction: the true class ranks below every class that scores at least
as high, so a collapsed model (all scores equal) scores 0, not the frequency of class 0.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.validation import (
    _as_tensor,
    _check_labels,
    _check_matrix,
    resolve_device,
)

TOP5_MIN_CLASSES = 6  # top-5 accuracy says something only when there are more than 5 classes


def class_prototypes(class_embeddings: Any) -> Tensor:
    """(C, D) unit class vectors from (C, D) embeddings (one prompt per class) or (C, P, D)
    (P prompts per class: mean of the unit prompt embeddings, renormalised)."""
    prompts = _as_tensor(class_embeddings, "class_embeddings")
    if prompts.dim() == 2:
        return F.normalize(_check_matrix(prompts, "class_embeddings"), dim=1)
    if prompts.dim() != 3 or 0 in prompts.shape:
        raise ValueError(
            f"class_embeddings must be (num_classes, dim) or (num_classes, prompts_per_class, "
            f"dim), got shape {tuple(prompts.shape)}; stack one row (or one list of prompt "
            f"embeddings) per class, in label order"
        )
    num_classes, per_class, dim = prompts.shape
    flat = _check_matrix(prompts.reshape(num_classes * per_class, dim), "class_embeddings")
    unit = F.normalize(flat, dim=1).reshape(num_classes, per_class, dim)
    return F.normalize(unit.mean(dim=1), dim=1)


def true_class_ranks(scores: Tensor, labels: Tensor) -> Tensor:
    """(N,) rank from 1 of each row's true class among its (N, C) `scores`, counting every
    other class that scores at least as high (ties against the prediction)."""
    true_scores = scores.gather(1, labels[:, None])
    return (scores >= true_scores).sum(dim=1)


def zero_shot_classification(
    image_embeddings: Any, labels: Any, class_embeddings: Any, *, split: str = "test",
    device: torch.device | str | None = "cpu",
) -> list[Result]:
    """Top-1 (and, with more than 5 classes, top-5) accuracy of assigning each (N, D) image
    embedding the class (labels 0..C-1) whose (C, D) or (C, P, D) prompt embedding(s) it is
    most cosine-similar to.

    Results have protocol "zero_shot" and metrics "top1" and "top5"; settings record k,
    prompts_per_class, prompt_ensemble, normalisation, similarity, ties and the problem size.
    Labels outside 0..C-1 (classes without prompts) are a ValueError naming them.
    """
    device = resolve_device(device)
    images = _check_matrix(image_embeddings, "image_embeddings").to(device)
    labels = _check_labels(labels, "labels", images.shape[0], "image_embeddings").to(device)
    prompts = _as_tensor(class_embeddings, "class_embeddings")
    prototypes = class_prototypes(prompts).to(device)
    num_classes, dim = prototypes.shape
    if images.shape[1] != dim:
        raise ValueError(
            f"image_embeddings have dim {images.shape[1]} but class_embeddings have dim {dim}; "
            f"embed the class prompts with the text encoder of the same multimodal model"
        )
    uncovered = torch.unique(labels[(labels < 0) | (labels >= num_classes)])
    if uncovered.numel():
        raise ValueError(
            f"labels hold class indices {uncovered[:10].tolist()} that class_embeddings (classes "
            f"0..{num_classes - 1}) does not cover; give prompt embeddings for every class, row "
            f"c describing label c, or map the labels to 0..{num_classes - 1}"
        )
    with torch.no_grad():
        scores = F.normalize(images, dim=1) @ prototypes.T
        ranks = true_class_ranks(scores, labels)
    shared = {
        "prompts_per_class": 1 if prompts.dim() == 2 else int(prompts.shape[1]),
        "prompt_ensemble": "mean of L2-normalised prompt embeddings, renormalised",
        "normalisation": "L2 (images and class prototypes)", "similarity": "cosine",
        "ties": "against_prediction", "num_test": int(images.shape[0]),
        "num_classes": int(num_classes), "dim": int(dim),
    }
    ks = [1, 5] if num_classes >= TOP5_MIN_CLASSES else [1]
    return [
        Result(protocol="zero_shot", metric=f"top{k}", split=split,
               value=float((ranks <= k).double().mean()), settings={"k": k, **shared})
        for k in ks
    ]
