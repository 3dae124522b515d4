"""The graph room through the public API and the CLI: GRACE learns a planted block structure
that random features do not carry, a run resumes bit-identically, and a graph-level run is
trained, evaluated and embedded from the command line."""

import json

import networkx as nx
import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")

import contrastlearn  # noqa: E402
from contrastlearn.cli import main  # noqa: E402
from contrastlearn.modalities.graph.datasets import single_graph  # noqa: E402

SMALL = {"train.batch_size": 160, "encoder.kwargs.hidden_dim": 32,
         "method.kwargs.proj_hidden": 32, "eval.protocols": [], "data.holdout_fraction": 0.2}


pytestmark = pytest.mark.usefixtures("one_thread")


def planted_blocks() -> dict:
    """Four blocks of 50 nodes, dense inside and sparse between, with features that are pure
    noise: the block is in the structure only, so raw features score at chance."""
    graph = nx.stochastic_block_model([50] * 4, [[0.2 if i == j else 0.01 for j in range(4)]
                                                 for i in range(4)], seed=0)
    edges = torch.tensor(list(graph.edges)).T
    features = torch.randn(200, 16, generator=torch.Generator().manual_seed(0))
    return {"x": single_graph(features, torch.cat([edges, edges.flip(0)], dim=1)),
            "y": torch.arange(200) // 50}


def _nmi(embeddings: torch.Tensor, labels: torch.Tensor) -> float:
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    normalised = torch.nn.functional.normalize(embeddings, dim=1).numpy()
    predicted = KMeans(4, n_init=10, random_state=0).fit_predict(normalised)
    return float(normalized_mutual_info_score(labels.numpy(), predicted))


def test_grace_learns_the_planted_blocks(tmp_path):
    data = planted_blocks()
    untrained = contrastlearn.pretrain(
        "grace", dataset=data, out=tmp_path / "step0", progress=False, evaluate_after=False,
        overrides={**SMALL, "train.max_steps": 1, "train.lr": 1e-12})
    trained = contrastlearn.pretrain(
        "grace", dataset=data, out=tmp_path / "trained", progress=False, evaluate_after=False,
        overrides={**SMALL, "train.steps": 40, "train.lr": 0.01})
    before, after = _nmi_of(untrained, data), _nmi_of(trained, data)
    raw = _nmi(data["x"].x, data["y"])
    assert raw < 0.1, raw
    assert after > before + 0.1, (before, after)
    assert after > 0.8, after


def _nmi_of(run, data) -> float:
    return _nmi(contrastlearn.embed(run.encoder, data["x"], modality="graph"), data["y"])


def test_graph_run_resumes_bit_identically(tmp_path):
    data = planted_blocks()
    settings = {**SMALL, "train.steps": 6, "train.lr": 0.01}
    full = contrastlearn.pretrain("grace", dataset=data, out=tmp_path / "full", progress=False,
                                  evaluate_after=False, overrides=settings)
    stopped = contrastlearn.pretrain(
        "grace", dataset=data, out=tmp_path / "part", progress=False, evaluate_after=False,
        overrides={**settings, "train.max_steps": 3, "train.checkpoint_every_steps": 1})
    assert stopped.training.steps == 3
    resumed = contrastlearn.pretrain(out=tmp_path / "part", dataset=data, resume=True,
                                     progress=False, evaluate_after=False,
                                     overrides={"train.max_steps": None})
    assert resumed.training.steps == full.training.steps == 6
    expected = full.method.state_dict()
    for key, value in resumed.method.state_dict().items():
        assert torch.equal(value, expected[key]), key


@pytest.mark.slow  # a full CLI run; the node-level CLI path stays
def test_graph_level_run_from_the_command_line(tmp_path, capsys):
    """Train GraphCL on generated molecules-like graphs from a .pt file, then evaluate and
    embed it with the CLI."""
    from torch_geometric.data import Data

    generator = np.random.default_rng(0)
    graphs = []
    for index in range(48):
        size = 8 + index % 5
        family = index % 2  # paths against stars: the structure is the class
        edges = ([(i, i + 1) for i in range(size - 1)] if family == 0
                 else [(0, i) for i in range(1, size)])
        edge_index = torch.tensor(edges).T
        graphs.append(Data(x=torch.ones(size, 1) + 0.01 * torch.tensor(
            generator.standard_normal((size, 1)), dtype=torch.float32),
            edge_index=torch.cat([edge_index, edge_index.flip(0)], dim=1),
            y=torch.tensor([family])))
    path = tmp_path / "graphs.pt"
    torch.save(graphs, path)
    run = tmp_path / "run"
    code = main(["pretrain", "--recipe", "graphcl", "--dataset", str(path), "--out", str(run),
                 "--set", "data.modality=graph", "--set", "train.batch_size=16",
                 "--set", "train.max_steps=3", "--set", "eval.protocols=[]", "--no-progress"])
    assert code == 0
    results = json.loads((run / "results.json").read_text())
    protocols = {(item["protocol"], item["settings"]["representation"])
                 for item in results}
    assert {("svm_cross_validation", "encoder"), ("svm_cross_validation", "raw")} <= protocols
    assert (run / "plots" / "views.png").stat().st_size > 0  # the graph views, drawn
    assert (run / "report.html").stat().st_size > 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--protocol", "logistic_regression"]) == 0
    assert "svm_cross_validation" in capsys.readouterr().out
    output = tmp_path / "embeddings.npy"
    assert main(["embed", str(run), "--input", str(path), "--output", str(output)]) == 0
    embeddings = np.load(output)
    assert embeddings.shape[0] == 48 and np.isfinite(embeddings).all()
