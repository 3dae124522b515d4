"""Views of table rows, batched on the rows' device.

Each op reads (B, width) samples in the layout of `schema` (numeric, missing indicators,
one-hot blocks), given as `layout` (the encoder's schema offers it, `Modality.view_inputs`);
without one, every column is read as numeric. A *feature* is one continuous column or one
categorical column (its whole one-hot block): corruption replaces whole features, so a
categorical value is always replaced by another valid one-hot block.

Replacement values come from each feature's empirical marginal: the training rows' marginals
(`MarginalBank`, kept in the schema) when offered, else the values the same feature has in
other rows of the batch (a sample of the same marginal).

Every op takes a per-row probability `p`, draws everything from the generator it is given
(deterministic for a seeded one), and is the identity at zero strength.
"""

from __future__ import annotations

import torch
from torch import Tensor

from contrastlearn.augment.base import Augmentation, Identity
from contrastlearn.augment.views import Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.tabular.schema import TableLayout, TableSchema


class MarginalBank:
    """Each feature's training marginal: quantiles (continuous columns, `MARGINAL_POINTS` per
    column) and level shares (categorical columns). `sample` draws whole rows of independent
    features from it."""

    def __init__(self, layout: TableLayout, quantiles: Tensor, level_shares: list[Tensor]):
        if quantiles.shape[0] != layout.num_continuous or len(level_shares) != len(
                layout.cardinalities):
            raise ValueError(f"marginals of {quantiles.shape[0]} continuous and "
                             f"{len(level_shares)} categorical columns do not fit the layout "
                             f"{layout}")
        self.layout = layout
        self.quantiles = quantiles.float()
        most = max(layout.cardinalities, default=0)
        cumulative = torch.ones(len(level_shares), most)
        for group, shares in enumerate(level_shares):
            total = shares.double().cumsum(0) / shares.double().sum().clamp(min=1e-12)
            cumulative[group, :len(shares) - 1] = total[:-1].float()
        self.cumulative = cumulative
        """(categorical columns, largest cardinality): the cumulative shares of the levels,
        1 from each column's last level on."""

    @classmethod
    def from_schema(cls, schema: TableSchema) -> MarginalBank:
        quantiles = (torch.tensor(schema.quantiles, dtype=torch.float32) if schema.quantiles
                     else torch.zeros(0, 1))
        return cls(schema.layout, quantiles,
                   [torch.tensor(shares) for shares in schema.frequencies])

    def sample(self, batch: int, generator: torch.Generator, device: torch.device,
               dtype: torch.dtype) -> Tensor:
        """(batch, width) rows, every feature drawn independently from its marginal."""
        layout = self.layout
        continuous = torch.empty(batch, 0, device=device)
        if layout.num_continuous:
            points = self.quantiles.shape[1]
            pick = (torch.rand(batch, layout.num_continuous, generator=generator, device=device)
                    * points).long().clamp(max=points - 1)
            offsets = torch.arange(layout.num_continuous, device=device) * points
            continuous = self.quantiles.to(device).reshape(-1)[pick + offsets]
        blocks = torch.zeros(batch, sum(layout.cardinalities), device=device)
        if layout.cardinalities:
            draws = torch.rand(batch, len(layout.cardinalities), generator=generator,
                               device=device)
            levels = (draws[..., None] >= self.cumulative.to(device)).sum(-1)
            sizes = torch.tensor(layout.cardinalities, device=device)
            levels = torch.minimum(levels, sizes - 1)
            starts = torch.cumsum(sizes, 0) - sizes
            blocks.scatter_(1, levels + starts, 1.0)
        return torch.cat([continuous, blocks], dim=1).to(dtype)


def replacement_rows(x: Tensor, layout: TableLayout, marginals: MarginalBank | None,
                     generator: torch.Generator) -> Tensor:
    """(B, width) values to write where features are replaced: draws from the training
    marginals, or each feature's value in a random row of the batch."""
    if marginals is not None:
        return marginals.sample(x.shape[0], generator, x.device, x.dtype)
    partners = torch.randint(x.shape[0], (x.shape[0], layout.num_features), generator=generator,
                             device=x.device)
    return x.gather(0, partners[:, layout.column_feature(x.device)])


def feature_columns(mask: Tensor, layout: TableLayout) -> Tensor:
    """A (B, features) mask as the (B, width) mask of the features' tensor columns."""
    return mask[:, layout.column_feature(mask.device)]


def changed_features(before: Tensor, after: Tensor, layout: TableLayout) -> Tensor:
    """(B, features) bool: which features differ between two batches of the same rows."""
    differs = (before != after).to(before.dtype)
    counts = torch.zeros(before.shape[0], layout.num_features, device=before.device,
                         dtype=before.dtype)
    return counts.index_add_(1, layout.column_feature(before.device), differs) > 0


def _unit(name: str, setting: str, value: float) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} {setting} must be in [0, 1]; got {value}")
    return float(value)


class TabularAugmentation(Augmentation):
    """Shared by the table ops: a per-row probability `p`, the `layout` (None: every column
    numeric) and optional training `marginals`."""

    def __init__(self, p: float, layout: TableLayout | None,
                 marginals: MarginalBank | None = None) -> None:
        self.p = _unit(type(self).__name__, "p", p)
        self._layout = layout
        self._marginals = marginals
        if layout is not None and marginals is not None and marginals.layout != layout:
            raise ValueError(f"{type(self).__name__}: the marginals are of another layout")

    def layout_of(self, x: Tensor) -> TableLayout:
        """The layout of `x` (checked), or all-numeric when none was given."""
        layout = self._layout or TableLayout.plain(x.shape[1] if x.dim() == 2 else 1)
        layout.check(x, type(self).__name__)
        return layout

    def chosen_rows(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """(B,) bool: the rows this call changes (probability `p` each)."""
        return torch.rand(x.shape[0], generator=generator, device=x.device) < self.p


@AUGMENTATIONS.register("scarf_corruption")
class ScarfCorruption(TabularAugmentation):
    """SCARF's corruption (Bahri et al. 2022, arXiv 2106.15147): in each row, a random subset
    of round(`corruption_rate` x features) features (drawn without replacement) takes values
    drawn from the features' empirical marginals."""

    def __init__(self, corruption_rate: float = 0.6, p: float = 1.0,
                 layout: TableLayout | None = None,
                 marginals: MarginalBank | None = None) -> None:
        super().__init__(p, layout, marginals)
        self.corruption_rate = _unit("ScarfCorruption", "corruption_rate", corruption_rate)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        layout = self.layout_of(x)
        count = round(self.corruption_rate * layout.num_features)
        if count == 0 or self.p == 0:
            return x
        rows = self.chosen_rows(x, generator)
        scores = torch.rand(x.shape[0], layout.num_features, generator=generator,
                            device=x.device)
        chosen = torch.zeros_like(scores, dtype=torch.bool).scatter_(
            1, scores.argsort(dim=1)[:, :count], True) & rows[:, None]
        replacement = replacement_rows(x, layout, self._marginals, generator)
        return torch.where(feature_columns(chosen, layout), replacement, x)


@AUGMENTATIONS.register("vime_mask")
class VimeMask(TabularAugmentation):
    """VIME's mask-and-corrupt (Yoon et al. 2020, NeurIPS): each feature is masked with
    probability `mask_rate`, independently, and a masked feature takes a value drawn from its
    empirical marginal. `corrupt` also returns the mask (which features were drawn); a drawn
    value may equal the original, so the mask a method can observe from the views is the
    changed features, as in VIME's own code."""

    def __init__(self, mask_rate: float = 0.3, p: float = 1.0,
                 layout: TableLayout | None = None,
                 marginals: MarginalBank | None = None) -> None:
        super().__init__(p, layout, marginals)
        self.mask_rate = _unit("VimeMask", "mask_rate", mask_rate)

    def corrupt(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """(corrupted rows, (B, features) bool mask of the features drawn anew)."""
        layout = self.layout_of(x)
        rows = self.chosen_rows(x, generator)
        mask = (torch.rand(x.shape[0], layout.num_features, generator=generator,
                           device=x.device) < self.mask_rate) & rows[:, None]
        replacement = replacement_rows(x, layout, self._marginals, generator)
        return torch.where(feature_columns(mask, layout), replacement, x), mask

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if self.mask_rate == 0 or self.p == 0:
            self.layout_of(x)
            return x
        return self.corrupt(x, generator)[0]


@AUGMENTATIONS.register("gaussian_noise")
class GaussianNoise(TabularAugmentation):
    """Add N(0, `std`^2) noise to the numeric columns (standardised units); missing
    indicators and one-hot blocks stay as they are."""

    def __init__(self, std: float = 0.1, p: float = 1.0,
                 layout: TableLayout | None = None) -> None:
        super().__init__(p, layout)
        if not float(std) >= 0:
            raise ValueError(f"GaussianNoise std must be >= 0; got {std}")
        self.std = float(std)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        layout = self.layout_of(x)
        if self.std == 0 or self.p == 0 or layout.num_numeric == 0:
            return x
        rows = self.chosen_rows(x, generator)
        noise = torch.randn(x.shape[0], layout.num_numeric, generator=generator,
                            device=x.device, dtype=x.dtype) * self.std * rows[:, None]
        out = x.clone()
        out[:, :layout.num_numeric] += noise
        return out


@AUGMENTATIONS.register("tabular_mixup")
class TabularMixup(TabularAugmentation):
    """Input-space mixup with a random partner row of the batch (a derangement: never itself):
    a partner weight w is drawn uniformly in [0, `max_weight`] per row; numeric columns become
    (1 - w) x + w partner, and each missing indicator and categorical column takes the
    partner's value with probability w (categories stay valid one-hot blocks)."""

    def __init__(self, max_weight: float = 0.3, p: float = 1.0,
                 layout: TableLayout | None = None) -> None:
        super().__init__(p, layout)
        self.max_weight = _unit("TabularMixup", "max_weight", max_weight)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        layout = self.layout_of(x)
        if self.max_weight == 0 or self.p == 0:
            return x
        batch = x.shape[0]
        rows = self.chosen_rows(x, generator)
        weights = torch.rand(batch, generator=generator, device=x.device) * self.max_weight
        weights = weights * rows
        order = torch.randperm(batch, generator=generator, device=x.device)
        partners = torch.empty_like(order)
        partners[order] = order.roll(-1)
        partner = x[partners]
        take = torch.rand(batch, layout.num_features, generator=generator,
                          device=x.device) < weights[:, None]
        swapped = torch.where(feature_columns(take, layout), partner, x)
        mixed = (1 - weights[:, None].to(x.dtype)) * x + weights[:, None].to(x.dtype) * partner
        numeric = torch.arange(layout.width, device=x.device) < layout.num_numeric
        return torch.where(numeric, mixed, swapped)


def _views_of(corruption: Augmentation) -> Views:
    """The paper's pair: the row itself (the anchor) and its corrupted copy."""
    return Views([Identity(), corruption])


@AUGMENTATIONS.register("scarf_views")
def scarf_views(corruption_rate: float = 0.6, strength: float = 1.0, p: float = 1.0,
                layout: TableLayout | None = None,
                marginals: MarginalBank | None = None) -> Views:
    """SCARF's views (Bahri et al. 2022, arXiv 2106.15147): each row (the anchor) and a copy
    with `corruption_rate` x `strength` of its features drawn from the training marginals
    (the paper's rate: 0.6)."""
    corruption = ScarfCorruption(corruption_rate * strength, p, layout, marginals)
    return _views_of(corruption).rebuild_with(
        lambda level: scarf_views(corruption_rate, strength * level, p, layout, marginals))


@AUGMENTATIONS.register("vime_views")
def vime_views(mask_rate: float = 0.3, strength: float = 1.0, p: float = 1.0,
               layout: TableLayout | None = None,
               marginals: MarginalBank | None = None) -> Views:
    """VIME's views (Yoon et al. 2020): each row and its mask-and-corrupt copy, every feature
    masked with probability `mask_rate` x `strength` (the paper's p_m: 0.3); the `vime`
    method reads the mask back from the pair."""
    mask = VimeMask(mask_rate * strength, p, layout, marginals)
    return _views_of(mask).rebuild_with(
        lambda level: vime_views(mask_rate, strength * level, p, layout, marginals))


def table_view_inputs(sample_shape: tuple[int, ...], encoder: object) -> dict[str, object]:
    """What view factories get from the encoder's table schema: the layout and the training
    marginals (nothing for an encoder without a schema: columns are then all numeric)."""
    schema = getattr(encoder, "schema", None)
    if schema is None:
        return {}
    return {"layout": schema.layout, "marginals": MarginalBank.from_schema(schema)}
