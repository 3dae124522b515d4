"""KCL's knowledge-guided molecule view (Fang et al. 2022, "Molecular Contrastive Learning
with Chemical Element Knowledge Graph", AAAI, arXiv 2112.00544), fitted to `GraphBatch`.

The chemical element knowledge graph is built offline from rdkit's periodic table
(`Chem.GetPeriodicTable()`): each element links to one attribute-value node per attribute
kind (element -has-attribute-> value):

- `period` (table row), `outer_electrons` (valence-shell electrons: the main-group family),
  `default_valence` (unknown for most transition metals);
- `covalent_radius`, `van_der_waals_radius`, `atomic_weight`: bucketed into `buckets`
  equal-frequency bins over the elements H..Rn (1-86).

KCL adds these attribute nodes to the molecule, each connected to the atoms whose element has
it, and reads the result with a relation-aware encoder (KMPNN). Here the attribute nodes are
projected out instead: two atoms of one molecule that share `min_shared` or more attribute
values, and are not bonded, get a relation edge (both directions) with
`edge_weight` = `relation_weight` x shared / number of attribute kinds, i.e. an atom-attribute-
atom path of KCL becomes one weighted edge. So no node is added: `x`, `batch`, the graph
readout and every aligned node field are untouched; bonds keep their weight (1, or their own
`edge_weight`), and relation edges get all-zero `edge_attr` when the batch has bond features.

Simplified from the paper: no attribute nodes and no relation types (the shared encoder reads
one weighted graph; KMPNN is not reproduced); the attributes are the six rdkit offers
(electronegativity, ionisation energy, electron affinity, melting/boiling point, state and
metallicity of the paper's KG are not in rdkit); no KG embedding pre-training (RotatE).
In organic molecules nearly every atom pair shares a period, so relation edges outnumber
bonds; `min_shared` and `relation_weight` tune that.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, Identity
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.graph.augment import (
    block_structure,
    check_rate,
    check_strength,
    graph_blocks,
    graph_starts,
)
from contrastlearn.modalities.graph.batch import GraphBatch, check_graph_batch

LAST_ELEMENT = 118
NATURAL_ELEMENTS = 86
"""Elements H..Rn set the bucket boundaries (heavier ones carry placeholder radii)."""
ATTRIBUTE_KINDS = ("period", "outer_electrons", "default_valence", "covalent_radius",
                   "van_der_waals_radius", "atomic_weight")


@dataclass(frozen=True)
class ElementKnowledge:
    """The element knowledge graph: `values[z, k]` is the attribute-value node (an id unique
    across kinds; -1: unknown) that element z links to for attribute kind `kinds[k]`;
    `names[id]` reads like "period=2" or "covalent_radius=bin 0 (<= 0.96)". Row 0 (no
    element) is all unknown."""

    kinds: tuple[str, ...]
    values: Tensor
    names: tuple[str, ...]


@lru_cache(maxsize=8)
def element_knowledge(buckets: int = 4) -> ElementKnowledge:
    """The element knowledge graph from rdkit's periodic table (module docstring)."""
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    elements = range(1, LAST_ELEMENT + 1)
    raw = {
        "period": [table.GetRow(z) for z in elements],
        "outer_electrons": [table.GetNOuterElecs(z) for z in elements],
        "default_valence": [table.GetDefaultValence(z) for z in elements],
        "covalent_radius": [table.GetRcovalent(z) for z in elements],
        "van_der_waals_radius": [table.GetRvdw(z) for z in elements],
        "atomic_weight": [table.GetAtomicWeight(z) for z in elements],
    }
    values = torch.full((LAST_ELEMENT + 1, len(ATTRIBUTE_KINDS)), -1, dtype=torch.long)
    names: list[str] = []
    for kind_index, kind in enumerate(ATTRIBUTE_KINDS):
        column = torch.tensor(raw[kind], dtype=torch.float64)
        if kind in ("period", "outer_electrons", "default_valence"):
            levels = column.long()
            labels = {int(level): f"{kind}={int(level)}" for level in levels.unique()
                      if level >= 0}
        else:
            fractions = torch.arange(1, buckets, dtype=torch.float64) / buckets
            bounds = torch.quantile(column[:NATURAL_ELEMENTS], fractions)
            levels = torch.bucketize(column, bounds)
            edges = [f"<= {bound:.3g}" for bound in bounds.tolist()] + ["above"]
            labels = {level: f"{kind}=bin {level} ({edges[level]})" for level in range(buckets)}
        ids = {level: len(names) + offset for offset, level in enumerate(sorted(labels))}
        names.extend(labels[level] for level in sorted(labels))
        for z, level in zip(elements, levels.tolist()):
            if level in ids:
                values[z, kind_index] = ids[level]
    return ElementKnowledge(ATTRIBUTE_KINDS, values, tuple(names))


@AUGMENTATIONS.register("knowledge_element_edges")
class KnowledgeElementEdges(Augmentation):
    """KCL's knowledge-guided augmentation (Fang et al. 2022, arXiv 2112.00544) as relation
    edges: atoms of a molecule whose elements share at least `min_shared` attribute values of
    the element knowledge graph, and are not bonded, are joined by an undirected edge of
    weight `relation_weight` x shared / 6; each such edge is added with probability `p`.
    Needs `atoms` (atomic numbers). See the module docstring for what is simplified."""

    def __init__(self, p: float = 1.0, min_shared: int = 1, relation_weight: float = 1.0,
                 buckets: int = 4, max_atoms: int = 1024) -> None:
        self.p = check_rate(p, "p", "knowledge_element_edges")
        if not 1 <= int(min_shared) <= len(ATTRIBUTE_KINDS):
            raise ValueError(f"knowledge_element_edges min_shared must be in [1, "
                             f"{len(ATTRIBUTE_KINDS)}], got {min_shared}")
        if not relation_weight > 0 or int(buckets) < 1 or int(max_atoms) < 1:
            raise ValueError(f"knowledge_element_edges needs relation_weight > 0, buckets >= 1 "
                             f"and max_atoms >= 1; got {relation_weight}, {buckets}, "
                             f"{max_atoms}")
        self.min_shared, self.relation_weight = int(min_shared), float(relation_weight)
        self.buckets, self.max_atoms = int(buckets), int(max_atoms)

    def apply(self, batch: GraphBatch, generator: torch.Generator) -> GraphBatch:
        batch = check_graph_batch(batch, "knowledge_element_edges")
        if batch.atoms is None:
            raise ValueError("knowledge_element_edges needs the atomic number of every node "
                             "(GraphBatch.atoms) and this batch has none: use molecules (a "
                             "SMILES or SDF dataset) or another view policy than kcl_views")
        if self.p == 0 or batch.num_nodes == 0:
            return batch
        largest = int(batch.graph_sizes().max())
        if largest > self.max_atoms:
            raise ValueError(f"knowledge_element_edges joins atom pairs within a molecule; a "
                             f"graph of {largest} nodes exceeds max_atoms={self.max_atoms}: "
                             "raise max_atoms or use it on molecules only")
        low, high, shared = self._relations(batch, largest)
        if self.p < 1:
            drawn = torch.rand(len(low), generator=generator, device=batch.device) < self.p
            low, high, shared = low[drawn], high[drawn], shared[drawn]
        weight = self.relation_weight * shared.float() / len(ATTRIBUTE_KINDS)
        added = torch.stack([torch.cat([low, high]), torch.cat([high, low])])
        own = (batch.edge_weight if batch.edge_weight is not None
               else torch.ones(batch.num_edges, device=batch.device))
        fields = {"edge_weight": torch.cat([own, weight.to(own.dtype), weight.to(own.dtype)])}
        if batch.edge_attr is not None:
            blank = batch.edge_attr.new_zeros((added.shape[1], *batch.edge_attr.shape[1:]))
            fields["edge_attr"] = torch.cat([batch.edge_attr, blank])
        return batch.with_edges(torch.cat([batch.edge_index, added], dim=1), **fields)

    def _relations(self, batch: GraphBatch, size: int) -> tuple[Tensor, Tensor, Tensor]:
        """(low, high, shared): every unbonded atom pair low < high of one molecule sharing
        at least `min_shared` attribute values, in batch numbering."""
        from torch_geometric.utils import to_dense_adj, to_dense_batch

        device = batch.device
        table = element_knowledge(self.buckets).values.to(device)
        atoms = batch.atoms.long()
        known = (atoms >= 1) & (atoms <= LAST_ELEMENT)
        attributes = torch.where(known[:, None], table[atoms.clamp(0, LAST_ELEMENT)], -1)
        upper = torch.ones(size, size, dtype=torch.bool, device=device).triu(diagonal=1)
        starts = graph_starts(batch)
        found = []
        for first, last in graph_blocks(batch, size * size * len(ATTRIBUTE_KINDS)):
            edge_index, graph, low = block_structure(batch, first, last)
            count = last - first
            dense, valid = to_dense_batch(attributes[low:low + len(graph)], graph,
                                          fill_value=-1, max_num_nodes=size, batch_size=count)
            same = (dense[:, :, None, :] == dense[:, None, :, :]) & (dense[:, :, None, :] >= 0)
            shared = same.sum(-1)
            bonded = to_dense_adj(edge_index, graph, max_num_nodes=size, batch_size=count) > 0
            candidate = ((shared >= self.min_shared) & upper & ~bonded & ~bonded.transpose(1, 2)
                         & valid[:, :, None] & valid[:, None, :])
            which, row, column = torch.nonzero(candidate, as_tuple=True)
            offset = starts[first + which]
            found.append((offset + row, offset + column, shared[which, row, column]))
        low, high, shared = (torch.cat(items) for items in zip(*found))
        return low, high, shared


@AUGMENTATIONS.register("kcl_views")
def kcl_views(min_shared: int = 1, relation_weight: float = 1.0, buckets: int = 4,
              strength: float = 1.0) -> Views:
    """KCL's two views (Fang et al. 2022, arXiv 2112.00544): the molecule itself and the
    molecule with element-knowledge relation edges, each added with probability
    min(1, `strength`)."""
    strength = min(1.0, check_strength(strength, "kcl_views"))
    return Views([Identity(), KnowledgeElementEdges(strength, min_shared, relation_weight,
                                                    buckets)])
