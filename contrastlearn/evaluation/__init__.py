"""Frozen-feature evaluation protocols. Every evaluator is a function
``(train_embeddings, train_labels, test_embeddings, test_labels, **settings) -> Result``
registered in `contrastlearn.registry.EVALUATORS`; they take embeddings, so they work for every
modality. Importing this package registers them."""

from contrastlearn.evaluation.features import extract_embeddings
from contrastlearn.evaluation.few_label import few_label, sample_labels_per_class
from contrastlearn.evaluation.knn import knn_classifier, knn_predict, knn_vote
from contrastlearn.evaluation.linear import LinearClassifier, fit_linear_probe, linear_probe
from contrastlearn.evaluation.result import Result, load_results, save_results
from contrastlearn.evaluation.validation import check_embeddings, encode_labels

__all__ = [
    "LinearClassifier",
    "Result",
    "check_embeddings",
    "encode_labels",
    "extract_embeddings",
    "few_label",
    "fit_linear_probe",
    "knn_classifier",
    "knn_predict",
    "knn_vote",
    "linear_probe",
    "load_results",
    "sample_labels_per_class",
    "save_results",
]
