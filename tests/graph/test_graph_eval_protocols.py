"""The graph room's evaluation extras: node classification / clustering / link prediction on
every node (`NodeProtocols`), the cross-validated SVM on every graph (`GraphProtocols`), their
raw-feature baselines, and `attach_protocols`, with tiny data and stand-in encoders."""

import math
from dataclasses import replace

import torch

from contrastlearn.api import extra_results
from contrastlearn.data.arrays import DatasetSplits
from contrastlearn.modalities.graph.protocols import (
    RAW_GRAPH_FEATURES,
    RAW_NODE_FEATURES,
    GraphProtocols,
    NodeProtocols,
    attach_protocols,
    graph_raw_features,
)
from tests.graph.graph_eval_fixtures import (
    RandomNodeTable,
    SeedFeatures,
    community_graph,
    small_graphs,
)

FAST = {"fractions": (0.2, 0.5), "seeds": range(2)}


def by_key(results):
    return {(r.settings["representation"], r.protocol, r.metric): r for r in results}


def test_node_protocols_measure_every_protocol_on_embeddings_and_raw_features():
    nodes, held = community_graph()
    results = NodeProtocols(nodes, held, **FAST).evaluate(
        SeedFeatures(), device="cpu", batch_size=64, split="test")
    table = by_key(results)
    protocols = {("node_classification_20", "top1"), ("node_classification_50", "top1"),
                 ("clustering", "nmi"), ("clustering", "ari"), ("link_prediction", "auroc"),
                 ("link_prediction", "average_precision")}
    assert set(table) == {(rep, *key) for rep in ("encoder", "raw") for key in protocols}
    for representation in ("encoder", "raw"):  # the stand-in encoder returns the features
        assert table[representation, "node_classification_50", "top1"].value == 1.0
        assert table[representation, "clustering", "nmi"].value == 1.0
        assert table[representation, "link_prediction", "auroc"].value > 0.7
    classification = table["encoder", "node_classification_20", "top1"]
    assert classification.num_seeds == 2 and classification.settings["seeds"] == [0, 1]
    assert classification.settings["classifier"] == "logistic_regression"
    assert classification.settings["fraction"] == 0.2
    assert table["raw", "clustering", "nmi"].settings["raw_features"] == RAW_NODE_FEATURES
    assert "raw_features" not in table["encoder", "clustering", "nmi"].settings
    link = table["encoder", "link_prediction", "auroc"]
    assert link.settings["num_positive"] == 10 and link.settings["num_nodes"] == 30


def test_node_protocols_use_the_encoder_for_encoder_rows_and_features_for_raw_rows():
    nodes, held = community_graph()
    table = by_key(NodeProtocols(nodes, held, **FAST).evaluate(
        RandomNodeTable(30), device="cpu", batch_size=64, split="test"))
    # label-free random embeddings are near chance; the raw one-hot features are perfect
    assert table["encoder", "node_classification_50", "top1"].value < 0.7
    assert table["raw", "node_classification_50", "top1"].value == 1.0
    assert table["encoder", "clustering", "nmi"].value < 0.5
    assert abs(table["encoder", "link_prediction", "auroc"].value - 0.5) < 0.3


def test_node_protocols_embed_every_graph_node_for_links_when_nodes_are_a_subset():
    nodes, held = community_graph()
    labelled = nodes.subset(torch.arange(24))  # nodes 24..29 are no samples
    assert bool((held >= 24).any())  # some held-out edges end at nodes that are no samples
    encoder = RandomNodeTable(30)
    results = NodeProtocols(labelled, held, raw_baseline=False, **FAST).evaluate(
        encoder, device="cpu", batch_size=64, split="test")
    assert encoder.calls == [24, 30]  # the samples, then every node for link prediction
    link = by_key(results)["encoder", "link_prediction", "auroc"]
    assert link.settings["num_nodes"] == 30 and link.settings["num_positive"] == held.shape[1]


def test_node_protocols_report_what_cannot_run_and_still_run_the_rest():
    nodes, held = community_graph()
    one_class = replace(nodes, y=torch.zeros(30, dtype=torch.long))
    table = by_key(NodeProtocols(one_class, held, raw_baseline=False, **FAST).evaluate(
        SeedFeatures(), device="cpu", batch_size=64, split="test"))
    for protocol in ("node_classification", "clustering"):
        skipped = table["encoder", protocol, "not_applicable"]
        assert math.isnan(skipped.value) and "1 distinct class" in skipped.settings["reason"]
    assert table["encoder", "link_prediction", "auroc"].value > 0.7
    without_edges = NodeProtocols(nodes, None, raw_baseline=False, **FAST).evaluate(
        SeedFeatures(), device="cpu", batch_size=64, split="test")
    assert not any(r.protocol == "link_prediction" for r in without_edges)


def test_graph_protocols_cross_validated_svm_on_embeddings_and_raw_features():
    graphs = small_graphs()
    results = GraphProtocols(graphs, folds=3).evaluate(SeedFeatures(), device="cpu",
                                                       batch_size=5, split="test")
    table = by_key(results)
    assert set(table) == {("encoder", "svm_cross_validation", "top1"),
                          ("raw", "svm_cross_validation", "top1")}
    for result in results:
        assert result.value == 1.0 and result.settings["folds"] == 3
    assert table["raw", "svm_cross_validation", "top1"].settings["raw_features"] \
        == RAW_GRAPH_FEATURES
    too_many_folds = GraphProtocols(graphs, folds=10, raw_baseline=False).evaluate(
        SeedFeatures(), device="cpu", batch_size=5, split="test")
    assert [r.metric for r in too_many_folds] == ["not_applicable"]
    assert "use folds <= 6" in too_many_folds[0].settings["reason"]
    unlabelled = replace(graphs, y=None)
    assert GraphProtocols(unlabelled).evaluate(SeedFeatures(), device="cpu", batch_size=5,
                                               split="test") == []


def test_graph_raw_features_match_a_per_graph_loop():
    graphs = small_graphs()
    features = graph_raw_features(graphs, batch_size=5)  # chunks across graph boundaries
    expected = torch.stack([
        torch.cat([graph.x.mean(0), graph.x.sum(0),
                   torch.tensor([graph.num_nodes, graph.num_edges / 2])])
        for graph in graphs.graphs])
    assert features.shape == (12, 10)
    torch.testing.assert_close(features, expected)


def test_attach_protocols_builds_the_extras_and_extra_results_runs_them():
    nodes, held = community_graph()
    splits = DatasetSplits(nodes, None, "graph", {"test_split": "test"},
                           extras={"nodes": nodes, "held_out_edges": held})
    attached = attach_protocols(splits)
    protocols = attached.extras["node_protocols"]
    assert protocols.nodes is nodes and protocols.held_out_edges is held
    assert protocols.fractions == (0.01, 0.1, 0.8) and list(protocols.seeds) == list(range(10))
    assert "node_protocols" not in splits.extras  # the input is left as it was
    assert attached.extras["nodes"] is nodes and "graph_protocols" not in attached.extras

    graphs = small_graphs()
    graph_splits = attach_protocols(DatasetSplits(graphs, None, "graph",
                                                  extras={"graphs": graphs}))
    assert graph_splits.extras["graph_protocols"].graphs is graphs
    graph_splits.extras["graph_protocols"].folds = 3
    results = extra_results(SeedFeatures(), graph_splits, device="cpu", batch_size=4)
    assert [(r.protocol, r.settings["representation"]) for r in results] == [
        ("svm_cross_validation", "encoder"), ("svm_cross_validation", "raw")]
