"""The console table of results: top-1 accuracies, then every other score in a table of its
own, so pair protocols (similarity, retrieval) print their metric names and values."""

from __future__ import annotations

from contrastlearn.evaluation.result import Result
from contrastlearn.evaluation.table import comparison_table


def pair_results() -> list[Result]:
    similarity = {"similarity": "cosine", "num_pairs": 40, "dim": 16}
    retrieval = {"num_queries": 10, "num_queries_evaluated": 10, "num_gallery": 30}
    return [Result("similarity", "spearman", 0.7123, "test", dict(similarity)),
            Result("similarity", "pearson", -0.25, "test", dict(similarity)),
            Result("retrieval", "recall@1", 0.6, "test", {"k": 1, **retrieval}),
            Result("retrieval", "mrr", 0.75, "test", dict(retrieval))]


def test_pair_results_print_a_table_of_metric_names_and_values():
    lines = comparison_table(pair_results(), encoder_label="simcse encoder").splitlines()
    assert lines[:3] == [
        "similarity, retrieval scores on split 'test'",
        "metric               simcse encoder  evaluated on",
        "-------------------  --------------  ----------------------",
    ]
    assert lines[3:] == [
        "similarity spearman  0.7123          40 pairs",
        "similarity pearson   -0.25           40 pairs",
        "retrieval recall@1   60.00%          10 queries, 30 gallery",
        "retrieval mrr        75.00%          10 queries, 30 gallery",
    ]


def test_undefined_correlations_say_why():
    nan = Result("similarity", "spearman", float("nan"), "test",
                 {"num_pairs": 5, "constant_similarity": True})
    assert "undefined (constant similarity)" in comparison_table([nan])


def test_accuracies_and_other_scores_each_get_a_table():
    results = [Result("knn", "top1", 0.9, "holdout"),
               Result("knn", "top1", 0.8, "holdout", {"representation": "raw"}),
               Result("clustering", "nmi", 0.5, "holdout"),
               Result("clustering", "nmi", 0.25, "holdout", {"representation": "raw"}),
               Result("uniformity", "uniformity", -2.0, "holdout", {"num_samples": 9})]
    lines = comparison_table(results).splitlines()
    assert lines[0] == "top-1 accuracy on split 'holdout'"
    assert lines[3].split() == ["knn", "all", "90.00%", "80.00%"]
    assert lines[4:8] == ["", "clustering scores on split 'holdout'",
                          "metric          encoder  raw input",
                          "--------------  -------  ---------"]
    assert lines[8].split() == ["clustering", "nmi", "0.5", "0.25"]
    assert lines[9] == "uniformity = -2 (9 test items; lower is better)"
