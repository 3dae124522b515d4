"""k-means clustering of frozen embeddings, scored against the labels: do the embeddings group
by class without any label being used to fit? The protocol of e.g. DeepCluster (Caron et al.
2018, arXiv 1807.05520) and SCAN (Van Gansbeke et al. 2020, arXiv 2005.12320), which report
normalised mutual information (NMI) and the adjusted Rand index (ARI).

Protocol: L2-normalise the test embeddings (so Euclidean k-means follows cosine geometry, the
geometry contrastive objectives train), run scikit-learn's ``KMeans`` with as many clusters as
distinct test labels, ``n_init=10`` restarts and ``random_state=seed``, and compare the cluster
assignment with the test labels. Only the test split is clustered: the train arguments are
accepted (and validated) only so that every evaluator shares one signature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from contrastlearn.core.registry import EVALUATORS
from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.validation import check_embeddings


@EVALUATORS.register("clustering")
def kmeans_clustering(
    train_embeddings: Any, train_labels: Any, test_embeddings: Any, test_labels: Any, *,
    num_clusters: int | None = None, n_init: int = 10, max_iter: int = 300, seed: int = 0,
    device: torch.device | str | None = "cpu", split: str = "test",
) -> list[Result]:
    """NMI and ARI of k-means clusters of the L2-normalised test embeddings.

    Returns two Results, protocol "clustering", metrics "nmi" (arithmetic-mean normalisation,
    scikit-learn's default) and "ari". `num_clusters` defaults to the number of distinct test
    labels. Runs on the CPU whatever `device` says. `settings` records num_clusters, n_init,
    max_iter, seed, normalize, fit_on ("test"; train unused), num_train, num_test, dim and
    num_classes (distinct test labels).
    """
    # Imported here: scikit-learn takes about a second to import, and importing
    # contrastlearn (e.g. for the CLI) should not pay that unless this protocol runs.
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    train_x, _, test_x, test_y = check_embeddings(
        train_embeddings, train_labels, test_embeddings, test_labels, device="cpu"
    )
    labels = test_y.numpy()
    num_classes = int(np.unique(labels).size)
    if num_classes < 2:
        raise ValueError(
            f"test labels hold only {num_classes} distinct class; clustering scores need at "
            f"least 2 classes in test"
        )
    num_clusters = num_classes if num_clusters is None else int(num_clusters)
    if num_clusters < 2:
        raise ValueError(f"num_clusters must be >= 2, got {num_clusters}")
    num_test = int(test_x.shape[0])
    if num_test <= num_clusters:
        raise ValueError(
            f"k-means with {num_clusters} clusters needs more than {num_clusters} test "
            f"samples, got {num_test}"
        )
    if int(n_init) < 1 or int(max_iter) < 1:
        raise ValueError(f"n_init and max_iter must be >= 1, got {n_init} and {max_iter}")

    features = F.normalize(test_x.to(torch.float64), dim=1).numpy()
    kmeans = KMeans(n_clusters=num_clusters, n_init=int(n_init), max_iter=int(max_iter),
                    random_state=int(seed))
    assignment = kmeans.fit_predict(features)
    settings = {
        "num_clusters": num_clusters, "n_init": int(n_init), "max_iter": int(max_iter),
        "seed": int(seed), "normalize": "l2", "fit_on": "test", "train_used": False,
        "num_train": int(train_x.shape[0]), "num_test": num_test,
        "dim": int(test_x.shape[1]), "num_classes": num_classes,
    }
    return [
        Result(protocol="clustering", metric="nmi", split=split, settings=dict(settings),
               value=float(normalized_mutual_info_score(labels, assignment))),
        Result(protocol="clustering", metric="ari", split=split, settings=dict(settings),
               value=float(adjusted_rand_score(labels, assignment))),
    ]
