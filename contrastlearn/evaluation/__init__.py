"""Frozen-feature evaluation protocols. Every evaluator is a function
``(train_embeddings, train_labels, test_embeddings, test_labels, **settings)`` returning a
`Result`, or a list of Results when it measures several metrics (retrieval, clustering, label
fractions), registered in `contrastlearn.core.registry.EVALUATORS`; they take embeddings, so they
work for every modality. Importing this package registers them. `similarity_correlation` takes
embedding pairs instead, and the protocols that draw their own splits from one labelled set
(`node_classification`, `svm_cross_validation`) or score node pairs (`link_prediction`) take
one set of embeddings; these are called directly, as are the measures of a multimodal space
that take embeddings of two modalities (`zero_shot_classification`, `cross_modal_retrieval`,
`modality_gap`). `language_only_probe` is an evaluator whose train embeddings are text and test
embeddings images."""

from contrastlearn.evaluation.anomaly import anomaly_auroc, knn_anomaly_scores, one_class_anomaly
from contrastlearn.evaluation.clustering import kmeans_clustering
from contrastlearn.evaluation.cross_modal import cross_modal_retrieval, modality_gap
from contrastlearn.evaluation.cross_validation import svm_cross_validation
from contrastlearn.evaluation.dtw import pairwise_dtw
from contrastlearn.evaluation.features import extract_embeddings
from contrastlearn.evaluation.few_label import few_label, sample_labels_per_class
from contrastlearn.evaluation.knn import knn_classifier, knn_predict, knn_vote
from contrastlearn.evaluation.label_fraction import label_fraction_curve, sample_label_fraction
from contrastlearn.evaluation.linear import LinearClassifier, fit_linear_probe, linear_probe
from contrastlearn.evaluation.link_prediction import link_prediction, sample_non_edges
from contrastlearn.evaluation.noise_injection import language_only_probe
from contrastlearn.evaluation.query_by_example import map_from_scores, query_by_example
from contrastlearn.evaluation.random_splits import node_classification
from contrastlearn.evaluation.ranking import ranking_metrics
from contrastlearn.evaluation.result import Result, load_results, save_results
from contrastlearn.evaluation.retrieval import retrieval, retrieval_metrics
from contrastlearn.evaluation.similarity import similarity_correlation
from contrastlearn.evaluation.sklearn_probes import logistic_regression, svm
from contrastlearn.evaluation.topk import chunked_top_k
from contrastlearn.evaluation.validation import check_embeddings, encode_labels
from contrastlearn.evaluation.zero_shot import class_prototypes, zero_shot_classification

__all__ = [
    "LinearClassifier",
    "Result",
    "anomaly_auroc",
    "check_embeddings",
    "chunked_top_k",
    "class_prototypes",
    "cross_modal_retrieval",
    "encode_labels",
    "extract_embeddings",
    "few_label",
    "fit_linear_probe",
    "kmeans_clustering",
    "knn_anomaly_scores",
    "knn_classifier",
    "knn_predict",
    "knn_vote",
    "label_fraction_curve",
    "language_only_probe",
    "linear_probe",
    "link_prediction",
    "load_results",
    "logistic_regression",
    "map_from_scores",
    "modality_gap",
    "node_classification",
    "one_class_anomaly",
    "pairwise_dtw",
    "query_by_example",
    "ranking_metrics",
    "retrieval",
    "retrieval_metrics",
    "sample_label_fraction",
    "sample_labels_per_class",
    "sample_non_edges",
    "save_results",
    "similarity_correlation",
    "svm",
    "svm_cross_validation",
    "zero_shot_classification",
]
