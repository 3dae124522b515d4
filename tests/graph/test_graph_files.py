"""Users' graph files: edge lists with node files, PyG .pt files, molecule files and folders,
and a one-line error naming the file, the line and the fix for every kind of bad input."""

import pickle

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")
pytest.importorskip("rdkit")

from rdkit import Chem  # noqa: E402
from torch_geometric.data import Data  # noqa: E402

from contrastlearn.data.arrays import DataError  # noqa: E402
from contrastlearn.modalities.graph.data import graph_samples, graph_split_arrays  # noqa: E402
from contrastlearn.modalities.graph.datasets import GraphDataset, NodeDataset  # noqa: E402
from contrastlearn.modalities.graph.files import (  # noqa: E402
    ATOM_FEATURES,
    FILE_READERS,
    molecule_graph,
    read_edge_list,
    read_molecule_file,
    read_molecule_folder,
    read_pyg_file,
)


def write(path, text: str):
    path.write_text(text)
    return path


def edges_of(graph) -> set[tuple[int, int]]:
    return {tuple(pair) for pair in graph.edge_index.T.tolist()}


# ---- edge lists ----------------------------------------------------------------------------


def test_edge_list_numbers_nodes_by_first_appearance_and_adds_reverse_edges(tmp_path):
    path = write(tmp_path / "g.csv", "source,target\n# a comment\nb,a\na,c\nc,a\n\nd,c\n")
    read = read_edge_list(path)
    graph = read["x"]
    # b=0, a=1, c=2, d=3; a,c and c,a are one undirected edge
    assert edges_of(graph) == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)}
    assert torch.equal(graph.x, torch.ones(4, 1))
    assert read["y"] is None and read["texts"] is None and graph.edge_attr is None


def test_edge_list_with_node_files_in_the_feature_file_order(tmp_path):
    write(tmp_path / "nodes.csv", "id,f1,f2\nx,1,2\ny,3,4\nz,5,6\nw,7,8\n")
    write(tmp_path / "labels.csv", "node,label\nz,cat\nx,dog\ny,cat\nw,dog\n")
    write(tmp_path / "texts.csv", 'x,"a dog, brown"\ny,a cat\nz,another cat\nw,a dog\n')
    path = write(tmp_path / "g.tsv", "y\tx\nz\ty\n")
    read = read_edge_list(path, node_features="nodes.csv", node_labels="labels.csv",
                          node_texts=str(tmp_path / "texts.csv"), held_out_edges=0.0,
                          num_hops=1)
    graph = read["x"]
    assert torch.equal(graph.x, torch.tensor([[1.0, 2], [3, 4], [5, 6], [7, 8]]))
    assert edges_of(graph) == {(1, 0), (0, 1), (2, 1), (1, 2)}  # w (3) is isolated
    assert read["y"].tolist() == ["dog", "cat", "cat", "dog"]
    assert read["texts"] == ["a dog, brown", "a cat", "another cat", "a dog"]
    splits = graph_split_arrays(**read, name="g", holdout_fraction=0.5, seed=0)
    assert splits.extras["nodes"].y.tolist() == [1, 0, 0, 1]
    assert splits.info["classes"] == ["cat", "dog"]
    assert splits.info["num_nodes"] == 4 and splits.train.num_hops == 1


def test_edge_list_texts_become_features_without_a_feature_file(tmp_path):
    write(tmp_path / "texts.txt", "1 red apple\n2 green apple\n3 red car\n")
    path = write(tmp_path / "g.edges", "1 2\n2 3\n")
    graph = read_edge_list(path, node_texts="texts.txt", text_views=2)["x"]
    assert graph.x.shape == (3, 2) and graph.feature_variants.shape == (3, 2, 2)


def test_directed_edge_list_keeps_the_direction_as_edge_attributes(tmp_path):
    path = write(tmp_path / "g.txt", "0 1\n1 2\n2 1\n")
    graph = read_edge_list(path, directed=True)["x"]
    attr = {tuple(pair): row.tolist()
            for pair, row in zip(graph.edge_index.T.tolist(), graph.edge_attr)}
    assert attr == {(0, 1): [1.0, 0.0], (1, 0): [0.0, 1.0], (1, 2): [1.0, 1.0],
                    (2, 1): [1.0, 1.0]}


def test_self_loops_are_kept_once_when_allowed(tmp_path):
    path = write(tmp_path / "g.txt", "a a\na b\n")
    graph = read_edge_list(path, allow_self_loops=True)["x"]
    assert edges_of(graph) == {(0, 0), (0, 1), (1, 0)} and graph.num_edges == 3


def test_delimiter_option_reads_semicolon_files(tmp_path):
    path = write(tmp_path / "g.csv", "a;b\nb;c\n")
    assert read_edge_list(path, delimiter=";")["x"].num_nodes == 3


@pytest.mark.parametrize("files, options, message", [
    ({"g.csv": "a,b\nb,q\n", "nodes.csv": "a,1\nb,2\n"}, {"node_features": "nodes.csv"},
     r"g.csv line 2: node 'q' is not in the node_features file .*nodes.csv; add a feature row"),
    ({"g.csv": "a,b\nb,b\n"}, {}, r"g.csv line 2: self-loop 'b' -> 'b'; remove it, or set "
                                  "data.options.allow_self_loops: true"),
    ({"g.csv": "a,b\nb,c\n", "labels.csv": "a,0\nb,1\n"}, {"node_labels": "labels.csv"},
     r"labels.csv has 2 rows but the graph has 3 nodes \(missing e.g. \['c'\]\)"),
    ({"g.csv": "a,b\n", "labels.csv": "a,0\nb,1\nzz,1\n"}, {"node_labels": "labels.csv"},
     r"labels.csv line 3: node 'zz' is not in the graph"),
    ({"g.csv": "a,b\n", "nodes.csv": "a,1,2\nb,3,x\n"}, {"node_features": "nodes.csv"},
     r"nodes.csv line 2: feature value 'x' of node 'b' is not a finite number"),
    ({"g.csv": "a,b\n", "nodes.csv": "a,1,2\nb,3\n"}, {"node_features": "nodes.csv"},
     r"nodes.csv line 2: 1 feature values, but line 1 has 2"),
    ({"g.csv": "a,b\n", "nodes.csv": "a,1\nb,2\na,3\n"}, {"node_features": "nodes.csv"},
     r"nodes.csv line 3: node 'a' appears again \(first on line 1\)"),
    ({"g.csv": ""}, {}, r"edge list file .*g.csv is empty \(no data lines\)"),
    ({"g.csv": "# only a comment\n\n"}, {}, r"edge list file .*g.csv is empty"),
    ({"g.csv": "source,target\n"}, {}, r"g.csv has a header but no edges"),
    ({"g.csv": "a,b\n", "nodes.csv": ""}, {"node_features": "nodes.csv"},
     r"node_features file .*nodes.csv is empty"),
    ({"g.csv": "a,b,0.5\n"}, {}, r"g.csv line 1: expected two columns \(source, target\), "
                                 "found 3"),
    ({"g.csv": "a,b\n"}, {"node_labels": "missing.csv"}, r"node_labels file 'missing.csv' "
                                                        "does not exist"),
])
def test_edge_list_bad_input_is_one_line_naming_file_line_and_fix(tmp_path, files, options,
                                                                    message):
    for name, text in files.items():
        write(tmp_path / name, text)
    with pytest.raises(DataError, match=message) as caught:
        read_edge_list(tmp_path / "g.csv", **options)
    assert "\n" not in str(caught.value)


# ---- PyG files -----------------------------------------------------------------------------


def test_pt_file_of_one_graph_and_of_a_list(tmp_path):
    data = Data(x=torch.randn(4, 2), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]),
                y=torch.tensor([0, 1, 0, 1]))
    torch.save(data, tmp_path / "one.pt")
    torch.save([data, data], tmp_path / "many.pt")
    one = read_pyg_file(tmp_path / "one.pt", held_out_edges=0.0)
    assert torch.equal(one["x"].x, data.x) and one["held_out_edges"] == 0.0
    assert isinstance(graph_samples(one["x"]), NodeDataset)
    splits = graph_split_arrays(**one, name="one", holdout_fraction=0.5, seed=0)
    assert splits.info["level"] == "node" and splits.info["num_edges"] == 3
    many = read_pyg_file(tmp_path / "many.pt")
    assert len(many["x"]) == 2 and isinstance(graph_samples(many["x"]), GraphDataset)


class NotAGraph:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pt_file_never_unpickles_other_classes(tmp_path, capsys):
    with open(tmp_path / "evil.pt", "wb") as handle:
        pickle.dump(NotAGraph(), handle)
    torch.save({"weights": torch.ones(2)}, tmp_path / "dict.pt")
    with pytest.raises(DataError, match=r"cannot read .*evil.pt as a torch_geometric Data"):
        read_pyg_file(tmp_path / "evil.pt")
    assert "must never run" not in capsys.readouterr().out
    with pytest.raises(DataError, match=r"dict.pt holds dict; expected a torch_geometric Data"):
        read_pyg_file(tmp_path / "dict.pt")


# ---- molecules -----------------------------------------------------------------------------


def sdf_text(molecules: list[tuple[str, str, dict]]) -> str:
    records = []
    for smiles, name, properties in molecules:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", name)
        block = Chem.MolToMolBlock(mol)
        block += "".join(f">  <{key}>\n{value}\n\n" for key, value in properties.items())
        records.append(block + "$$$$\n")
    return "".join(records)


def test_molecule_graph_one_hot_encodes_atoms_and_bonds():
    graph = molecule_graph(Chem.MolFromSmiles("OC=O"), "formic acid")
    assert graph.x.shape == (3, 177) and graph.edge_attr.shape == (4, 30)
    assert torch.equal(graph.x.sum(1), torch.full((3,), float(len(ATOM_FEATURES))))
    assert torch.equal(graph.edge_attr.sum(1), torch.full((4,), 3.0))
    canonical = Chem.MolFromSmiles(Chem.MolToSmiles(Chem.MolFromSmiles("OC=O")))
    expected = [atom.GetAtomicNum() for atom in canonical.GetAtoms()]
    assert graph.atoms.tolist() == expected
    assert torch.equal(graph.x[:, :119].argmax(1), graph.atoms)
    # bond type columns 0..21 in PyG's order: the C=O bond is DOUBLE (2) both ways
    assert sorted(graph.edge_attr[:, :22].argmax(1).tolist()) == [1, 1, 2, 2]


def test_sdf_file_reads_molecules_and_a_label_property(tmp_path):
    path = write(tmp_path / "m.sdf", sdf_text([("CCO", "ethanol", {"cls": "polar"}),
                                               ("CCCC", "butane", {"cls": "apolar"})]))
    read = read_molecule_file(path, label_property="cls")
    assert [graph.num_nodes for graph in read["x"]] == [3, 4]
    assert read["y"].tolist() == ["polar", "apolar"]
    assert FILE_READERS[".sdf"] is read_molecule_file


def test_molecule_folder_with_a_sub_folder_per_class(tmp_path):
    for name, smiles in (("acids", ["OC=O", "CC(=O)O", "OC(=O)CC"]),
                         ("alcohols", ["CO", "CCO", "CCCO"])):
        (tmp_path / "mols" / name).mkdir(parents=True)
        write(tmp_path / "mols" / name / "a.smi", "".join(f"{s} m{i}\n"
                                                          for i, s in enumerate(smiles)))
    splits = read_molecule_folder(tmp_path / "mols", holdout_fraction=1 / 3, seed=0)
    assert splits.info["classes"] == ["acids", "alcohols"]
    assert (len(splits.train), len(splits.test)) == (4, 2)
    assert sorted(splits.extras["graphs"].y.tolist()) == [0, 0, 0, 1, 1, 1]


def test_molecule_folder_with_labels_csv_or_a_label_property(tmp_path):
    write(tmp_path / "a.smi", "smiles name\nCCO ethanol\nCCCC butane\n")
    write(tmp_path / "b.sdf", sdf_text([("CO", "methanol", {"cls": "polar"})]))
    write(tmp_path / "labels.csv", "name,label\nbutane,apolar\nmethanol,polar\nethanol,polar\n")
    splits = read_molecule_folder(tmp_path, holdout_fraction=0.5, seed=0)
    assert splits.extras["graphs"].y.tolist() == [1, 0, 1]
    only_sdf = tmp_path / "sdf"
    only_sdf.mkdir()
    write(only_sdf / "b.sdf", sdf_text([("CO", "methanol", {"cls": "polar"}),
                                        ("CC", "ethane", {"cls": "apolar"})]))
    by_property = read_molecule_folder(only_sdf, holdout_fraction=0.5, seed=0,
                                       label_property="cls")
    assert by_property.extras["graphs"].y.tolist() == [1, 0]


@pytest.mark.parametrize("files, options, message", [
    ({"a.smi": "CCO\nC1CC\nCC\n"}, {},
     r"a.smi line 2: RDKit cannot parse the SMILES 'C1CC'; fix or remove the line"),
    ({"a.smi": "\n# nothing\n"}, {}, r"molecule file .*a.smi is empty"),
    ({"a.sdf": ""}, {}, r"molecule file .*a.sdf is empty \(no SDF records\)"),
    ({"a.sdf": "BAD"}, {}, r"a.sdf record 2 \(line 12\): RDKit cannot parse this molecule"),
    ({"a.sdf": "CCO"}, {"label_property": "missing"},
     r"a.sdf record 1 \(line 1\): no property 'missing' \(it has \['cls'\]\)"),
    ({"a.smi": "CCO x\n", "b.smi": "CO x\n", "labels.csv": "x,1\n"}, {},
     r"molecule name 'x' appears twice \(a.smi molecule 1, b.smi molecule 1\)"),
    ({"a.smi": "CCO x\nCO y\n", "labels.csv": "x,1\n"}, {},
     r"labels.csv labels 1 of 2 molecules \(missing e.g. \['y'\]\)"),
    ({"a.smi": "CCO x\n", "labels.csv": "x,1\nz,0\n"}, {},
     r"labels.csv line 2: no molecule is named 'z'"),
    ({"notes.md": "nothing"}, {}, r"has no molecule files \(.sdf, .smi, .smiles\)"),
])
def test_molecule_bad_input_is_one_line_naming_file_line_and_fix(tmp_path, files, options,
                                                                   message):
    for name, text in files.items():
        if name.endswith(".sdf") and text == "CCO":
            text = sdf_text([("CCO", "ethanol", {"cls": "polar"})])
        elif name.endswith(".sdf") and text == "BAD":
            good = sdf_text([("CCO", "ethanol", {})])
            text = good + good.replace(" O ", " Xx").replace("ethanol", "broken")
        write(tmp_path / name, text)
    with pytest.raises(DataError, match=message) as caught:
        read_molecule_folder(tmp_path, holdout_fraction=0.5, seed=0, **options)
    assert "\n" not in str(caught.value)


def test_molecule_folder_refuses_mixing_files_and_class_folders(tmp_path):
    write(tmp_path / "a.smi", "CCO\n")
    (tmp_path / "cls").mkdir()
    write(tmp_path / "cls" / "b.smi", "CO\n")
    with pytest.raises(DataError, match=r"holds molecule files and class sub-folders"):
        read_molecule_folder(tmp_path, holdout_fraction=0.5, seed=0)


def test_file_readers_cover_every_suffix():
    assert sorted(FILE_READERS) == [".csv", ".edges", ".pt", ".sdf", ".smi", ".smiles", ".tsv",
                                    ".txt"]
    assert np.all([callable(reader) for reader in FILE_READERS.values()])
