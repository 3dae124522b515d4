"""Readers of users' graph files: edge lists with optional node files, PyG `.pt` files, and
molecules (`.sdf`, `.smi`/`.smiles` files, or a folder of them).

- **Edge list** (`.csv`, `.tsv`, `.edges`, `.txt`): two columns, source and target node ids
  (any strings), one edge per line; lines starting with '#' or '%' are comments; a first line
  whose two fields are column names (source/target, src/dst, from/to, u/v, node1/node2,
  head/tail) is a header. Nodes are numbered in order of first appearance, or in the row order
  of the `node_features` file when one is given. Optional node files (CSV, node id first):
  `node_features` (numbers), `node_labels` (a class), `node_texts` (a text, featurized with
  TF-IDF + SVD or MiniLM as `features` says when there are no node features; without either,
  every node gets one constant feature). A relative node-file path is looked up as given, then
  beside the edge list. The graph is node level; message passing runs over both directions of
  every edge (a `directed` list keeps the direction as a 2-dim `edge_attr`).
- **PyG file** (`.pt`): a `torch_geometric` `Data` or a list of them saved with `torch.save`,
  read with `torch.load(weights_only=True)` with only PyG's `Data` classes allowed, so no
  pickled code runs.
- **Molecules**: `.sdf` (RDKit's SDF reader; class labels from the property `label_property`)
  and `.smi`/`.smiles` (one SMILES per line, optionally a name after it); a folder holds such
  files directly (labels from `label_property` or a `labels.csv` of molecule name, label) or
  one sub-folder of files per class. Each molecule becomes a graph through PyG's
  `from_smiles` of its canonical SMILES: node features are the one-hot codes of its 9 atom
  features, edge features the one-hot codes of its 3 bond features (`ATOM_FEATURES`).

Readers return the arguments of `graph_split_arrays` (`x` is the graph or the list of graphs,
so `to_samples` embeds a file's nodes or molecules); bad input is a one-line DataError that
names the file, the line and the fix.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from contrastlearn.data.arrays import DataError, DatasetSplits
from contrastlearn.modalities.graph.batch import GraphBatch
from contrastlearn.modalities.graph.data import graph_splits
from contrastlearn.modalities.graph.datasets import single_graph
from contrastlearn.modalities.graph.text_features import featurize_texts

EDGE_LIST_SUFFIXES = (".csv", ".tsv", ".edges", ".txt")
MOLECULE_SUFFIXES = (".sdf", ".smi", ".smiles")
EDGE_HEADERS = {("source", "target"), ("src", "dst"), ("from", "to"), ("u", "v"),
                ("node1", "node2"), ("head", "tail")}
"""Column-name pairs that make an edge list's first line a header (case-insensitive)."""
ID_HEADERS = {"id", "node", "node_id", "nodeid", "name", "vertex"}
"""First-column names that make a node file's first line a header."""
COMMENT_PREFIXES = ("#", "%")
LABELS_FILE = "labels.csv"
ATOM_FEATURES = ("atomic_num", "chirality", "degree", "formal_charge", "num_hs",
                 "num_radical_electrons", "hybridization", "is_aromatic", "is_in_ring")
"""PyG's `from_smiles` atom features, one-hot encoded with vocabularies of 119, 9, 11, 12, 9,
5, 8, 2 and 2 values (177 node features); bonds: type (22), stereo (6), conjugated (2), 30
edge features."""


# ---- plain text tables -------------------------------------------------------------------


def _delimiter_for(path: Path, delimiter: str | None) -> str | None:
    """The column separator: the option, else "," for .csv, tab for .tsv, None (any
    whitespace) otherwise."""
    if delimiter is not None:
        return delimiter
    return {".csv": ",", ".tsv": "\t"}.get(path.suffix.lower())


def _table_rows(path: Path, delimiter: str | None, what: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every line that is not blank or a comment; a missing,
    undecodable or empty file is a DataError."""
    if not path.is_file():
        raise DataError(f"{what} file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read {what} file {path}: {error}; save it as UTF-8") from None
    rows = []
    if delimiter is None:
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if fields and not fields[0].startswith(COMMENT_PREFIXES):
                rows.append((number, fields))
    else:
        reader = csv.reader(text.splitlines(), delimiter=delimiter)
        for fields in reader:
            fields = [field.strip() for field in fields]
            if any(fields) and not fields[0].startswith(COMMENT_PREFIXES):
                rows.append((reader.line_num, fields))
    if not rows:
        raise DataError(f"{what} file {path} is empty (no data lines); give one row per "
                        f"{'edge' if what == 'edge list' else 'node'}")
    return rows


def _side_file(option: str, value: str, edge_file: Path) -> Path:
    """A node file named by an option: as given, else beside the edge list."""
    path = Path(value).expanduser()
    if path.is_file() or path.is_absolute():
        return path
    beside = edge_file.parent / path
    if beside.is_file():
        return beside
    raise DataError(f"{option} file {value!r} does not exist (looked in the working folder and "
                    f"in {edge_file.parent}); fix data.options.{option}")


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# ---- edge lists ----------------------------------------------------------------------------


def _read_node_features(path: Path, delimiter: str | None) -> tuple[list[str], np.ndarray]:
    """Node ids in row order and their (N, F) float32 features; a first line with no number
    after the id is a header."""
    rows = _table_rows(path, _delimiter_for(path, delimiter), "node_features")
    if len(rows[0][1]) > 1 and all(_number(value) is None for value in rows[0][1][1:]):
        rows = rows[1:]
        if not rows:
            raise DataError(f"node_features file {path} has a header but no rows")
    width = len(rows[0][1])
    if width < 2:
        raise DataError(f"{path} line {rows[0][0]}: expected a node id then feature values")
    ids, values, seen = [], [], {}
    for number, fields in rows:
        if len(fields) != width:
            raise DataError(f"{path} line {number}: {len(fields) - 1} feature values, but line "
                            f"{rows[0][0]} has {width - 1}; give every node the same number")
        if fields[0] in seen:
            raise DataError(f"{path} line {number}: node {fields[0]!r} appears again (first on "
                            f"line {seen[fields[0]]}); give one row per node")
        seen[fields[0]] = number
        row = []
        for value in fields[1:]:
            parsed = _number(value)
            if parsed is None:
                raise DataError(f"{path} line {number}: feature value {value!r} of node "
                                f"{fields[0]!r} is not a finite number; node features must "
                                "be numbers")
            row.append(parsed)
        ids.append(fields[0])
        values.append(row)
    return ids, np.asarray(values, dtype=np.float32)


def _read_node_values(path: Path, delimiter: str | None, index: dict[str, int],
                      option: str) -> list[str]:
    """One value per node (a label or a text) from a file of node id, value rows; the rest of a
    row after the id is the value (texts may hold the separator)."""
    separator = _delimiter_for(path, delimiter)
    rows = _table_rows(path, separator, option)
    if rows[0][1][0] not in index and rows[0][1][0].lower() in ID_HEADERS:
        rows = rows[1:]
    values: dict[int, str] = {}
    for number, fields in rows:
        if len(fields) < 2:
            raise DataError(f"{path} line {number}: expected a node id then its value")
        node = index.get(fields[0])
        if node is None:
            raise DataError(f"{path} line {number}: node {fields[0]!r} is not in the graph; "
                            "remove the row or add the node's edges")
        if node in values:
            raise DataError(f"{path} line {number}: node {fields[0]!r} appears again; give one "
                            "row per node")
        values[node] = (separator or " ").join(fields[1:])
    if len(values) != len(index):
        names = list(index)
        missing = [names[node] for node in range(len(index)) if node not in values]
        raise DataError(f"{path} has {len(values)} rows but the graph has {len(index)} nodes "
                        f"(missing e.g. {missing[:3]}); give one row per node")
    return [values[node] for node in range(len(index))]


def _label_values(values: list[str]) -> np.ndarray:
    """Labels as integers when every one is an integer, else as class-name strings."""
    try:
        return np.asarray([int(value) for value in values], dtype=np.int64)
    except ValueError:
        return np.asarray(values)


def _edge_rows(path: Path, delimiter: str | None,
               allow_self_loops: bool) -> list[tuple[int, str, str]]:
    rows = _table_rows(path, _delimiter_for(path, delimiter), "edge list")
    first = tuple(field.lower() for field in rows[0][1])
    if first in EDGE_HEADERS:
        rows = rows[1:]
        if not rows:
            raise DataError(f"edge list {path} has a header but no edges; give one edge per line")
    edges = []
    for number, fields in rows:
        if len(fields) != 2:
            raise DataError(f"{path} line {number}: expected two columns (source, target), "
                            f"found {len(fields)}; keep only the two node-id columns (or set "
                            "data.options.delimiter)")
        if fields[0] == fields[1] and not allow_self_loops:
            raise DataError(f"{path} line {number}: self-loop {fields[0]!r} -> {fields[1]!r}; "
                            "remove it, or set data.options.allow_self_loops: true")
        edges.append((number, fields[0], fields[1]))
    return edges


def _message_passing_edges(pairs: Tensor, num_nodes: int,
                           directed: bool) -> tuple[Tensor, Tensor | None]:
    """Both directions of every file edge, each once; for a directed file also the (E, 2)
    edge_attr: whether the file has this direction, whether it has the reverse."""
    both = torch.cat([pairs, pairs.flip(0)], dim=1)
    keys = torch.unique(both[0] * num_nodes + both[1])
    edge_index = torch.stack([keys // num_nodes, keys % num_nodes])
    if not directed:
        return edge_index, None
    given = torch.unique(pairs[0] * num_nodes + pairs[1])
    forward = torch.isin(keys, given)
    reverse = torch.isin(edge_index[1] * num_nodes + edge_index[0], given)
    return edge_index, torch.stack([forward, reverse], dim=1).float()


def read_edge_list(
    path: str | Path, *, node_features: str | None = None, node_labels: str | None = None,
    node_texts: str | None = None, delimiter: str | None = None, allow_self_loops: bool = False,
    directed: bool = False, features: str = "tfidf", feature_dim: int = 256,
    text_views: int = 0, held_out_edges: float | None = None, num_hops: int = 2,
) -> dict[str, Any]:
    """One node-level graph from an edge list and optional node files (see the module
    docstring); returns `x` (the graph), `y`, `texts` and the split options."""
    path = Path(path)
    edges = _edge_rows(path, delimiter, allow_self_loops)
    x = None
    if node_features is not None:
        feature_file = _side_file("node_features", node_features, path)
        ids, matrix = _read_node_features(feature_file, delimiter)
        index = {node: position for position, node in enumerate(ids)}
        for number, source, target in edges:
            for node in (source, target):
                if node not in index:
                    raise DataError(f"{path} line {number}: node {node!r} is not in the "
                                    f"node_features file {feature_file}; add a feature row "
                                    "for it or remove the edge")
        x = torch.from_numpy(matrix)
    else:
        index = {}
        for _, source, target in edges:
            index.setdefault(source, len(index))
            index.setdefault(target, len(index))
    pairs = torch.tensor([[index[source], index[target]] for _, source, target in edges],
                         dtype=torch.long).T
    edge_index, edge_attr = _message_passing_edges(pairs, len(index), directed)
    labels = None
    if node_labels is not None:
        labels = _label_values(_read_node_values(
            _side_file("node_labels", node_labels, path), delimiter, index, "node_labels"))
    texts, variants = None, None
    if node_texts is not None:
        texts = _read_node_values(_side_file("node_texts", node_texts, path), delimiter, index,
                                  "node_texts")
        if x is None:
            matrix, variant_matrix = featurize_texts(texts, features=features,
                                                     feature_dim=feature_dim,
                                                     text_views=text_views)
            x = torch.from_numpy(matrix)
            variants = None if variant_matrix is None else torch.from_numpy(variant_matrix)
    if x is None:
        x = torch.ones(len(index), 1)
    optional = {"edge_attr": edge_attr} if edge_attr is not None else {}
    if variants is not None:
        optional["feature_variants"] = variants
    graph = single_graph(x, edge_index, **optional)
    return {"x": graph, "y": labels, "texts": texts, "held_out_edges": held_out_edges,
            "num_hops": num_hops}


# ---- PyG files -----------------------------------------------------------------------------


def read_pyg_file(path: str | Path, *, held_out_edges: float | None = None,
                  num_hops: int = 2) -> dict[str, Any]:
    """A PyG `Data` (node level) or list of `Data` (graph level) saved with `torch.save`,
    loaded without unpickling anything but tensors and PyG's `Data` classes."""
    from torch_geometric.data import Data
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    path = Path(path)
    if not path.is_file():
        raise DataError(f"PyG file {str(path)!r} does not exist")
    try:
        with torch.serialization.safe_globals([Data, DataEdgeAttr, DataTensorAttr,
                                               GlobalStorage]):
            loaded = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # unpickling refusals, zip and format errors alike
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error)
        raise DataError(f"cannot read {path} as a torch_geometric Data (or list of Data) saved "
                        f"with torch.save: {reason}; only Data objects and tensors are "
                        "loaded, never other pickled classes") from None
    items = loaded if isinstance(loaded, (list, tuple)) else [loaded]
    if not items or not all(isinstance(item, Data) for item in items):
        kinds = sorted({type(item).__name__ for item in items}) or ["an empty list"]
        raise DataError(f"{path} holds {', '.join(kinds)}; expected a torch_geometric Data or "
                        "a list of Data")
    return {"x": list(items) if isinstance(loaded, (list, tuple)) else loaded,
            "held_out_edges": held_out_edges, "num_hops": num_hops}


# ---- molecules -----------------------------------------------------------------------------


@contextmanager
def _quiet_rdkit() -> Iterator[None]:
    """RDKit's parse errors become our DataErrors; its own log lines would only repeat them."""
    from rdkit import rdBase

    blocker = rdBase.BlockLogs()
    try:
        yield
    finally:
        del blocker


def _one_hot(codes: Tensor, sizes: Sequence[int]) -> Tensor:
    """(n, k) category codes -> (n, sum(sizes)) one-hot rows, column block j for feature j."""
    offsets = torch.tensor([0, *np.cumsum(sizes)[:-1].tolist()], dtype=torch.long)
    encoded = torch.zeros(codes.shape[0], int(sum(sizes)))
    if codes.shape[0]:
        encoded.scatter_(1, codes.long() + offsets, 1.0)
    return encoded


def molecule_graph(mol: Any, where: str) -> GraphBatch:
    """An RDKit molecule as a single-graph GraphBatch through PyG's `from_smiles` of its
    canonical SMILES: one-hot atom and bond features (`ATOM_FEATURES`), atomic numbers in
    `atoms`."""
    from rdkit import Chem
    from torch_geometric.utils import from_smiles
    from torch_geometric.utils.smiles import e_map, x_map

    data = from_smiles(Chem.MolToSmiles(mol))
    if data.x.shape[0] == 0:
        raise DataError(f"{where}: the molecule has no atoms; remove it")
    atom_sizes = [len(x_map[name]) for name in ATOM_FEATURES]
    bond_sizes = [len(values) for values in e_map.values()]
    atomic_numbers = torch.tensor(x_map["atomic_num"])[data.x[:, 0]]
    return single_graph(_one_hot(data.x, atom_sizes), data.edge_index,
                        edge_attr=_one_hot(data.edge_attr.reshape(-1, len(bond_sizes)),
                                           bond_sizes),
                        atoms=atomic_numbers)


def _sdf_record_lines(path: Path) -> list[int]:
    """The first line number of every record of an SDF file."""
    starts, start = [], 1
    with path.open(encoding="utf-8", errors="replace") as file:
        for number, line in enumerate(file, start=1):
            if line.rstrip("\r\n") == "$$$$":
                starts.append(start)
                start = number + 1
    return starts


def read_sdf(path: Path, label_property: str | None = None
             ) -> tuple[list[GraphBatch], list[str] | None, list[str]]:
    """The molecules of an SDF file as graphs, their `label_property` values (or None) and
    their names (the title line, else "<file>:<record>")."""
    from rdkit import Chem

    if not path.is_file():
        raise DataError(f"molecule file {str(path)!r} does not exist")
    starts = _sdf_record_lines(path)
    graphs, labels, names = [], [], []
    if not path.read_bytes().strip():
        raise DataError(f"molecule file {path} is empty (no SDF records); give at least one "
                        "molecule")
    with _quiet_rdkit():
        for record, mol in enumerate(Chem.SDMolSupplier(str(path))):
            line = starts[record] if record < len(starts) else "?"
            where = f"{path} record {record + 1} (line {line})"
            if mol is None:
                raise DataError(f"{where}: RDKit cannot parse this molecule; fix or remove the "
                                "record")
            if label_property is not None:
                if not mol.HasProp(label_property):
                    raise DataError(f"{where}: no property {label_property!r} (it has "
                                    f"{sorted(mol.GetPropNames())}); fix "
                                    "data.options.label_property")
                labels.append(mol.GetProp(label_property).strip())
            graphs.append(molecule_graph(mol, where))
            title = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
            names.append(title or f"{path.name}:{record + 1}")
    return graphs, (labels if label_property is not None else None), names


def read_smiles(path: Path) -> tuple[list[GraphBatch], list[str]]:
    """The molecules of a SMILES file (one per line, an optional name after it; a first line
    starting with "smiles" is a header) and their names (else "<file>:<line>")."""
    from rdkit import Chem

    rows = _table_rows(path, None, "molecule")
    if rows[0][1][0].lower() == "smiles":
        rows = rows[1:]
    graphs, names = [], []
    with _quiet_rdkit():
        for number, fields in rows:
            mol = Chem.MolFromSmiles(fields[0])
            if mol is None:
                raise DataError(f"{path} line {number}: RDKit cannot parse the SMILES "
                                f"{fields[0]!r}; fix or remove the line")
            graphs.append(molecule_graph(mol, f"{path} line {number}"))
            names.append(" ".join(fields[1:]) or f"{path.name}:{number}")
    if not graphs:
        raise DataError(f"molecule file {path} is empty (no SMILES lines); give one molecule "
                        "per line")
    return graphs, names


def _read_molecules(path: Path, label_property: str | None
                    ) -> tuple[list[GraphBatch], list[str] | None, list[str]]:
    if path.suffix.lower() == ".sdf":
        return read_sdf(path, label_property)
    if label_property is not None:
        raise DataError(f"{path}: label_property names an SDF property, but SMILES files have "
                        "none; give labels as sub-folders or a labels.csv")
    graphs, names = read_smiles(path)
    return graphs, None, names


def read_molecule_file(path: str | Path, *, label_property: str | None = None
                       ) -> dict[str, Any]:
    """The molecules of one .sdf/.smi/.smiles file (graph level), labelled by the SDF property
    `label_property` when given."""
    graphs, labels, _ = _read_molecules(Path(path), label_property)
    return {"x": graphs, "y": None if labels is None else np.asarray(labels)}


def _molecule_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir()
                  if path.is_file() and path.suffix.lower() in MOLECULE_SUFFIXES)


def _labels_by_name(labels_file: Path, names: list[str], origins: list[str]) -> list[str]:
    """One label per molecule from a labels.csv of (molecule name, label) rows."""
    first_seen: dict[str, str] = {}
    for name, origin in zip(names, origins):
        if name in first_seen:
            raise DataError(f"molecule name {name!r} appears twice ({first_seen[name]}, "
                            f"{origin}); {labels_file} needs unique names")
        first_seen[name] = origin
    index = {name: position for position, name in enumerate(names)}
    rows = _table_rows(labels_file, ",", LABELS_FILE)
    if rows[0][1][0] not in index:
        rows = rows[1:]  # a header row
    labels: dict[int, str] = {}
    for number, fields in rows:
        if len(fields) != 2:
            raise DataError(f"{labels_file} line {number}: expected two columns (molecule "
                            "name, label)")
        if fields[0] not in index:
            raise DataError(f"{labels_file} line {number}: no molecule is named {fields[0]!r}; "
                            "use the SDF title or the name after the SMILES")
        labels[index[fields[0]]] = fields[1]
    if len(labels) != len(names):
        missing = [name for position, name in enumerate(names) if position not in labels]
        raise DataError(f"{labels_file} labels {len(labels)} of {len(names)} molecules (missing "
                        f"e.g. {missing[:3]}); give one row per molecule")
    return [labels[position] for position in range(len(names))]


def read_molecule_folder(path: str | Path, *, holdout_fraction: float = 0.2, seed: int = 0,
                         label_property: str | None = None) -> DatasetSplits:
    """Molecules of a folder (see the module docstring), split by a stratified holdout."""
    folder = Path(path)
    classes = sorted(entry.name for entry in folder.iterdir()
                     if entry.is_dir() and _molecule_files(entry))
    direct = _molecule_files(folder)
    if classes and direct:
        raise DataError(f"{folder} holds molecule files and class sub-folders ({classes}); put "
                        "every file in a class sub-folder, or none")
    graphs: list[GraphBatch] = []
    labels: list[str] = []
    if classes:
        for name in classes:
            for file in _molecule_files(folder / name):
                found, _, _ = _read_molecules(file, None)
                graphs += found
                labels += [name] * len(found)
        values: list[str] | None = labels
    else:
        if not direct:
            raise DataError(f"{folder} has no molecule files ({', '.join(MOLECULE_SUFFIXES)}) "
                            "and no class sub-folders holding them")
        names, origins, found_labels = [], [], []
        for file in direct:
            found, file_labels, file_names = _read_molecules(file, label_property)
            graphs += found
            names += file_names
            origins += [f"{file.name} molecule {position + 1}" for position in range(len(found))]
            found_labels += file_labels or []
        values = found_labels if label_property is not None else None
        if values is None and (folder / LABELS_FILE).is_file():
            values = _labels_by_name(folder / LABELS_FILE, names, origins)
    y = None if values is None else np.asarray(values)
    return graph_splits(graphs, y, name=folder.name, holdout_fraction=holdout_fraction,
                        seed=seed, info={"source": str(folder)})


FILE_READERS = {
    **{suffix: read_edge_list for suffix in EDGE_LIST_SUFFIXES},
    ".pt": read_pyg_file,
    **{suffix: read_molecule_file for suffix in MOLECULE_SUFFIXES},
}
"""Lower-case suffix -> reader, for the Modality's `file_readers`."""
