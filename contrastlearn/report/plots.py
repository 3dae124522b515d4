"""The pictures of a run: training curves, similarity histograms, embedding maps, augmentation
previews and augmentation-strength sweeps.

Every public function draws on a fresh `matplotlib.figure.Figure` rendered by the Agg canvas
(never pyplot's global state, so it is thread-safe and never opens a window), writes a PNG to
`path` (parent folders created, written atomically) and returns the PNG bytes, so an HTML
report can embed them without reading the file back. `path=None` only returns the bytes.
Each function has a private `_figure_*` builder returning the Figure, for inspection in tests.
"""

from __future__ import annotations

import io
import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from contrastlearn.core.atomic import atomic_write

PathLike = str | os.PathLike | None

DPI = 100
POSITIVE_COLOUR = "tab:green"
NEGATIVE_COLOUR = "tab:red"

# ---------------------------------------------------------------------------------------------
# shared helpers


def _save(fig: Figure, path: PathLike) -> bytes:
    """Render `fig` to PNG bytes with the Agg canvas; write them to `path` unless it is None."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    data = buffer.getvalue()
    if path is not None:
        atomic_write(path, data)
    return data


def _panel_margins(fig: Figure, rows: int, columns: int, *, left: float = 0.8,
                   right: float = 0.2, top: float = 0.75, bottom: float = 0.55,
                   between_rows: float = 0.95, between_columns: float = 0.9) -> dict:
    """Gridspec margins for a grid of small panels, from fixed margins in inches (room for a
    suptitle, titles, axis labels and ticks): a fixed layout draws a many-panel figure in about
    half the time of matplotlib's constrained layout."""
    width, height = fig.get_size_inches()
    panel_width = (width - left - right - between_columns * (columns - 1)) / columns
    panel_height = (height - top - bottom - between_rows * (rows - 1)) / rows
    return {"left": left / width, "right": 1 - right / width, "top": 1 - top / height,
            "bottom": bottom / height, "wspace": between_columns / panel_width,
            "hspace": between_rows / panel_height}


def _to_numpy(value: Any) -> np.ndarray:
    """A numpy array from a numpy array, torch tensor or nested sequence."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor without importing it
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()  # bfloat16 has no numpy equivalent
        value = value.numpy()
    return np.asarray(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# 1. training curves

# Plot order and (title, y-axis label) for the metrics the trainer logs; unknown keys follow.
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "loss": ("training loss", "loss"),
    "lr": ("learning rate", "learning rate"),
    "temperature": ("temperature", "τ"),
    "grad_norm": ("gradient norm", "L2 norm"),
    "samples_per_second": ("throughput", "samples / s"),
    "diag_contrastive_accuracy": ("contrastive accuracy (diagnostic)",
                                  "fraction of positives ranked 1st"),
    "diag_pos_similarity": ("positive-pair similarity", "mean cosine similarity"),
    "diag_neg_similarity": ("negative-pair similarity", "mean cosine similarity"),
    "diag_alignment": ("alignment (lower = closer positives)", "E‖z₁ − z₂‖²"),
    "diag_uniformity": ("uniformity (lower = more uniform)", "log E exp(−2‖zᵢ − zⱼ‖²)"),
    "diag_effective_rank": ("effective rank of embeddings", "rank (dimensions)"),
    "diag_std_ratio": ("std × √D (collapse if → 0)", "about 1 when healthy"),
    "diag_dim_std_mean": ("mean per-dimension std", "std of normalised embeddings"),
    "diag_dim_std_min": ("smallest per-dimension std", "std of normalised embeddings"),
    "contrastive_accuracy": ("contrastive accuracy (objective)", "positive ranked first"),
    "positive_similarity": ("positive similarity (objective)", "mean cosine similarity"),
    "alignment": ("alignment term (objective)", "E‖z₁ − z₂‖²"),
    "uniformity": ("uniformity term (objective)", "log E exp(−2‖zᵢ − zⱼ‖²)"),
    "knn_monitor_top1": ("k-NN monitor top-1", "accuracy"),
    "first_stage_knn_top1": ("k-NN top-1, first stage's classes", "accuracy"),
    "old_classes_knn_top1": ("k-NN top-1, earlier stages' classes", "accuracy"),
    "seen_classes_knn_top1": ("k-NN top-1, classes seen so far", "accuracy"),
    "invariance": ("invariance term", "loss term"),
    "variance": ("variance term", "loss term"),
    "covariance": ("covariance term", "loss term"),
}
_SKIPPED_KEYS = frozenset({"step", "epoch", "elapsed_seconds", "stage"})


def _scalar_series(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list, list]]:
    """key -> (steps, values) for every scalar metric with at least one finite value."""
    series: dict[str, tuple[list, list]] = {}
    for index, record in enumerate(records):
        step = record.get("step", index)
        if not _is_scalar(step) or not math.isfinite(step):
            step = index
        for key, value in record.items():
            if key in _SKIPPED_KEYS or not _is_scalar(value) or not math.isfinite(value):
                continue
            steps, values = series.setdefault(key, ([], []))
            steps.append(step)
            values.append(float(value))
    known = [key for key in METRIC_LABELS if key in series]
    unknown = [key for key in series if key not in METRIC_LABELS]  # first-seen order
    return {key: series[key] for key in known + unknown}


def _figure_training_curves(records: Sequence[Mapping[str, Any]]) -> Figure:
    series = _scalar_series(records)
    if not series:
        raise ValueError("no scalar metrics to plot")
    columns = min(3, len(series))
    rows = math.ceil(len(series) / columns)
    fig = Figure(figsize=(4.2 * columns, 2.7 * rows + 0.4))
    axes = fig.subplots(rows, columns, squeeze=False,
                        gridspec_kw=_panel_margins(fig, rows, columns)).ravel()
    for ax, (key, (steps, values)) in zip(axes, series.items()):
        title, ylabel = METRIC_LABELS.get(key, (key.replace("_", " "), key))
        order = np.argsort(steps, kind="stable")
        x, y = np.asarray(steps)[order], np.asarray(values)[order]
        ax.plot(x, y, marker="o" if len(x) <= 40 else None, markersize=3, linewidth=1.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    for ax in axes[len(series):]:
        ax.set_visible(False)
    fig.suptitle("Training curves", fontsize=12)
    return fig


def plot_training_curves(records: list[dict], path: PathLike) -> bytes:
    """One small panel per scalar metric of a run's metrics.jsonl records, against the step.

    Non-scalar values (lists, dicts), NaN/inf/None and the keys step/epoch/elapsed_seconds are
    skipped. Raises ValueError("no scalar metrics to plot") when nothing is left to draw."""
    return _save(_figure_training_curves(records), path)


# ---------------------------------------------------------------------------------------------
# 2. similarity histograms


def _histograms(records: Sequence[Mapping[str, Any]]) -> list[tuple[Any, dict]]:
    found = []
    for index, record in enumerate(records):
        histogram = record.get("similarity_histogram")
        if histogram is None:
            continue
        step = record.get("step", index)
        if not isinstance(histogram, Mapping):
            raise ValueError(f"similarity_histogram at step {step} is not a dict")
        try:
            bins = int(histogram["bins"])
            lo, hi = (float(v) for v in histogram["range"])
            positive = np.asarray(histogram["positive"], dtype=float)
            negative = np.asarray(histogram["negative"], dtype=float)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"similarity_histogram at step {step} needs bins, range=[lo, hi], positive and "
                f"negative counts: {error}"
            ) from error
        if bins < 1 or not hi > lo:
            raise ValueError(f"similarity_histogram at step {step}: bad bins/range")
        if positive.shape != (bins,) or negative.shape != (bins,):
            raise ValueError(
                f"similarity_histogram at step {step}: positive/negative must have {bins} counts, "
                f"got {positive.shape} and {negative.shape}"
            )
        found.append((step, {"edges": np.linspace(lo, hi, bins + 1),
                             "positive": positive, "negative": negative}))
    if not found:
        raise ValueError("no similarity_histogram records to plot")
    return found


def _density(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / (total * np.diff(edges)) if total > 0 else np.zeros_like(counts)


def _mean(counts: np.ndarray, edges: np.ndarray) -> float:
    centres = (edges[:-1] + edges[1:]) / 2
    return float((counts * centres).sum() / counts.sum()) if counts.sum() > 0 else math.nan


def _figure_similarity_histograms(records: Sequence[Mapping[str, Any]],
                                  max_panels: int = 8) -> Figure:
    found = _histograms(records)
    chosen = np.unique(np.linspace(0, len(found) - 1, min(max_panels, len(found))).round())
    panels = [found[int(i)] for i in chosen]
    columns = min(4, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(3.1 * columns, 2.7 * rows + 0.5))
    axes = fig.subplots(rows, columns, squeeze=False, sharey=True,
                        gridspec_kw=_panel_margins(fig, rows, columns, top=1.0,
                                                   between_rows=1.1, between_columns=0.5)
                        ).ravel()
    for number, (ax, (step, hist)) in enumerate(zip(axes, panels)):
        edges = hist["edges"]
        for name, colour, label in (("positive", POSITIVE_COLOUR, "positive pairs"),
                                    ("negative", NEGATIVE_COLOUR, "negative pairs")):
            counts = hist[name]
            ax.stairs(_density(counts, edges), edges, fill=True, alpha=0.35, color=colour)
            ax.stairs(_density(counts, edges), edges, color=colour, label=label)
            mean = _mean(counts, edges)
            if math.isfinite(mean):
                ax.axvline(mean, color=colour, linestyle="--", linewidth=1)
        gap = _mean(hist["positive"], edges) - _mean(hist["negative"], edges)
        ax.set_title(f"step {step}" + (f"\nmean gap {gap:+.2f}" if math.isfinite(gap) else ""),
                     fontsize=9)
        ax.set_xlabel("cosine similarity")
        ax.set_xlim(edges[0], edges[-1])
        ax.grid(True, alpha=0.3)
        if number % columns == 0:
            ax.set_ylabel("density")
        if number == 0:
            ax.legend(fontsize=7, loc="upper left")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle("Positive vs negative pair similarity over training "
                 "(dashed = means; further apart is better)", fontsize=11)
    return fig


def plot_similarity_histograms(records: list[dict], path: PathLike) -> bytes:
    """Positive- and negative-pair cosine-similarity distributions at up to 8 evenly chosen steps
    (from records with a "similarity_histogram" = {bins, range, positive, negative} entry),
    normalised and overlaid, so one sees them move apart as training goes on.

    Raises ValueError when no record has a histogram, or a histogram is malformed."""
    return _save(_figure_similarity_histograms(records), path)


# ---------------------------------------------------------------------------------------------
# 3. embedding map

_METHOD_NAMES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}


def _subsample(n: int, labels: np.ndarray | None, max_points: int, seed: int) -> np.ndarray:
    """Sorted indices of at most `max_points` of `n` points; stratified by label if given."""
    rng = np.random.default_rng(seed)
    if n <= max_points:
        return np.arange(n)
    if labels is None:
        return np.sort(rng.choice(n, size=max_points, replace=False))
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    exact = counts * max_points / n
    quota = np.floor(exact).astype(int)
    remainder = max_points - quota.sum()
    quota[np.argsort(-(exact - quota), kind="stable")[:remainder]] += 1
    chosen = [rng.choice(np.flatnonzero(inverse == c), size=q, replace=False)
              for c, q in enumerate(quota) if q > 0]
    return np.sort(np.concatenate(chosen))


def _project(x: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, tuple[str, str]]:
    if x.shape[1] < 2:  # a 1-D embedding still gets a (degenerate) 2-D map
        x = np.concatenate([x, np.zeros((len(x), 2 - x.shape[1]), dtype=x.dtype)], axis=1)
    n = len(x)
    spread = float(np.abs(x - x.mean(axis=0)).max())
    if spread <= 1e-8 * max(1.0, float(np.abs(x).max())):
        raise ValueError(
            "all embeddings are (nearly) the same point: the encoder has collapsed, so there is "
            "nothing to map"
        )
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed)
        points = pca.fit_transform(x)
        ratio = np.nan_to_num(pca.explained_variance_ratio_) * 100
        return points, (f"PC 1 ({ratio[0]:.0f}% of variance)",
                        f"PC 2 ({ratio[1]:.0f}% of variance)")
    if method == "tsne":
        from sklearn.manifold import TSNE

        tsne = TSNE(n_components=2, init="pca", perplexity=min(30.0, (n - 1) / 3),
                    learning_rate="auto", random_state=seed)
        return tsne.fit_transform(x), ("t-SNE 1", "t-SNE 2")
    if method == "umap":
        try:
            import umap
        except ImportError as error:
            raise ImportError(
                "a UMAP map needs the umap-learn package, which is not installed: "
                "pip install umap-learn (or draw a 'tsne' or 'pca' map)"
            ) from error
        reducer = umap.UMAP(n_components=2, n_neighbors=max(2, min(15, n - 1)),
                            random_state=seed)
        return np.asarray(reducer.fit_transform(x)), ("UMAP 1", "UMAP 2")
    raise ValueError(f"unknown method {method!r}; choose one of {sorted(_METHOD_NAMES)}")


def _class_name(label: Any, class_names: Sequence[str] | Mapping | None) -> str:
    if class_names is None:
        return str(label)
    if isinstance(class_names, Mapping):
        return str(class_names.get(label, label))
    if isinstance(label, numbers.Integral) and 0 <= int(label) < len(class_names):
        return str(class_names[int(label)])
    return str(label)


OTHER_COLOUR = "0.78"
"""Light grey: the points of the classes beyond the coloured ones ("other")."""


def _palette(count: int, *, beside_grey: bool = False) -> list:
    """`count` (at most 20) distinct categorical colours: tab10 up to 10; beyond, tab20's dark
    shades then its light ones, so neighbouring classes never share a hue. `beside_grey`
    (an "other" class is drawn grey): tab20's greys are left out and black fills in."""
    if count <= 10 and not beside_grey:
        return list(colormaps["tab10"].colors[:count])
    tab20 = colormaps["tab20"].colors
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    if beside_grey:
        return ([tab20[i] for i in order if i not in (14, 15)] + [(0.0, 0.0, 0.0)])[:count]
    return [tab20[i] for i in order][:count]


def _coloured_classes(labels: np.ndarray, limit: int) -> tuple[np.ndarray, int]:
    """The classes that get a colour of their own (sorted) and how many classes there are:
    every class when there are at most `limit`, else the `limit` - 1 most frequent (ties by
    label), the rest being drawn as one grey "other"."""
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) <= limit:
        return classes, len(classes)
    frequent = np.argsort(-counts, kind="stable")[:limit - 1]
    return classes[np.sort(frequent)], len(classes)


def _scatter_classes(ax: Axes, points: np.ndarray, labels: np.ndarray, size: float,
                     class_names: Sequence[str] | Mapping | None, limit: int) -> None:
    """Points coloured by class from a categorical palette with a legend beside the axes;
    beyond `limit` classes, the most frequent get colours and the others one grey."""
    coloured, total = _coloured_classes(labels, limit)
    others = ~np.isin(labels, coloured)
    if others.any():  # drawn first, so the coloured classes lie on top
        ax.scatter(points[others, 0], points[others, 1], s=size, alpha=0.5, linewidths=0,
                   color=OTHER_COLOUR, label=f"other ({total - len(coloured)} classes)",
                   zorder=1)
    for label, colour in zip(coloured, _palette(len(coloured), beside_grey=others.any())):
        mask = labels == label
        ax.scatter(points[mask, 0], points[mask, 1], s=size, alpha=0.75, linewidths=0,
                   color=colour, label=_class_name(label, class_names), zorder=2)
    handles, names = ax.get_legend_handles_labels()
    if others.any():  # "other" closes the legend
        handles, names = handles[1:] + handles[:1], names[1:] + names[:1]
    title = "class" if total <= limit else f"class ({len(coloured)} most frequent of {total})"
    ax.legend(handles, names, title=title, loc="center left", bbox_to_anchor=(1.01, 0.5),
              fontsize=8 if len(names) <= 10 else 7, title_fontsize=8, markerscale=1.5,
              frameon=False, labelspacing=0.3 if len(names) > 10 else 0.5)


def _figure_embedding_map(embeddings: Any, labels: Any = None, *, method: str = "tsne",
                          max_points: int = 2000, seed: int = 0,
                          class_names: Sequence[str] | Mapping | None = None,
                          max_legend_classes: int = 20) -> Figure:
    if method not in _METHOD_NAMES:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(_METHOD_NAMES)}")
    x = _to_numpy(embeddings)
    if x.ndim != 2:
        raise ValueError(f"embeddings must have shape (N, D), got {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"embeddings must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"embeddings contain {int((~np.isfinite(x)).sum())} NaN/Inf values")
    if len(x) < 3:
        raise ValueError(f"an embedding map needs at least 3 points, got {len(x)}")
    if max_points < 3:
        raise ValueError(f"max_points must be at least 3, got {max_points}")
    y = None
    if labels is not None:
        y = _to_numpy(labels).reshape(-1)
        if len(y) != len(x):
            raise ValueError(f"{len(y)} labels for {len(x)} embeddings; lengths must match")
    total = len(x)
    keep = _subsample(total, y, max_points, seed)
    x = x[keep]
    y = y[keep] if y is not None else None
    points, (xlabel, ylabel) = _project(x, method, seed)

    fig = Figure(figsize=(7.5, 6), layout="constrained")
    ax = fig.add_subplot()
    size = 12 if len(points) > 500 else 25
    if y is None:
        ax.scatter(points[:, 0], points[:, 1], s=size, alpha=0.7, linewidths=0)
    else:
        _scatter_classes(ax, points, y, size, class_names, max_legend_classes)
    note = f", subsampled from {total}" if len(points) < total else ""
    ax.set_title(f"{_METHOD_NAMES[method]} map of {len(points)} embeddings "
                 f"(dim {x.shape[1]}{note})", fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.2)
    return fig


def plot_embedding_map(embeddings: Any, labels: Any = None, path: PathLike = None, *,
                       method: str = "tsne", max_points: int = 2000, seed: int = 0,
                       class_names: Sequence[str] | Mapping | None = None) -> bytes:
    """2-D map of (N, D) embeddings (numpy or torch) by t-SNE, UMAP or PCA, coloured by label.

    At most `max_points` points are drawn (a seeded, label-stratified subsample). Classes get
    categorical colours (tab10, tab20) and a legend (names from `class_names`, a sequence
    indexed by label or a mapping); beyond 20 classes the 19 most frequent are coloured and
    the rest drawn in grey as "other". Raises ValueError for NaN/Inf embeddings, a label
    count that differs from N, fewer than 3 points or an unknown method; ImportError for
    "umap" without umap-learn.
    """
    return _save(_figure_embedding_map(embeddings, labels, method=method, max_points=max_points,
                                       seed=seed, class_names=class_names), path)


# ---------------------------------------------------------------------------------------------
# 4. augmentation preview


def _image_layout(array: np.ndarray) -> np.ndarray:
    """(H, W) for grayscale or (H, W, C) from a (C, H, W), (H, W, C) or (H, W) array."""
    a = np.asarray(array, dtype=float)
    if a.ndim == 2:
        return a
    if a.ndim != 3:
        raise ValueError(f"an image must have shape (C, H, W) or (H, W), got {a.shape}")
    if a.shape[0] not in (1, 3, 4) and a.shape[-1] in (1, 3, 4):
        a = np.moveaxis(a, -1, 0)  # channel-last input
    if a.shape[0] == 1:
        return a[0]
    if a.shape[0] in (3, 4):
        return np.moveaxis(a[:3], 0, -1)
    return a.mean(axis=0)  # unusual channel counts: show the channel mean in grayscale


def _in_unit_range(a: np.ndarray) -> bool:
    finite = a[np.isfinite(a)]
    return finite.size == 0 or (finite.min() >= -1e-6 and finite.max() <= 1 + 1e-6)


def _render_image(ax: Axes, array: np.ndarray) -> None:
    """(C, H, W) image: C=1 grayscale, C=3 RGB. Data in [0, 1] is shown on that fixed scale,
    anything else is stretched to its own min/max."""
    a = np.nan_to_num(_image_layout(array))
    if not _in_unit_range(a):
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    if a.ndim == 2:
        ax.imshow(a, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(np.clip(a, 0.0, 1.0), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"{a.shape[0]}×{a.shape[1]} px", fontsize=7)


def _prepare_image(original: np.ndarray, array: np.ndarray) -> np.ndarray:
    """Put a sample's original and views on the ORIGINAL's brightness scale, so brightness and
    contrast changes stay visible: [0, 1] data is clipped to [0, 1]; other data (e.g.
    mean/std-normalised) is mapped by the original's min/max, then clipped."""
    a = np.asarray(array, dtype=float)
    reference = np.asarray(original, dtype=float)
    if _in_unit_range(reference):
        return np.clip(a, 0.0, 1.0)
    lo, hi = float(np.nanmin(reference)), float(np.nanmax(reference))
    return np.clip((a - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)


def _render_timeseries(ax: Axes, array: np.ndarray, max_channels: int = 8) -> None:
    """(C, T) or (T,) series: one line per channel, at most `max_channels`."""
    a = np.asarray(array, dtype=float)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise ValueError(f"a time series must have shape (C, T) or (T,), got {a.shape}")
    for number, channel in enumerate(a[:max_channels]):
        ax.plot(np.arange(len(channel)), channel, linewidth=0.9, label=f"channel {number}")
    if len(a) > max_channels:
        ax.text(0.99, 0.98, f"first {max_channels} of {len(a)} channels", fontsize=6,
                ha="right", va="top", transform=ax.transAxes)
    ax.set_xlabel("time step", fontsize=7)
    ax.set_ylabel("value", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.grid(True, alpha=0.3)


def _render_audio(ax: Axes, array: np.ndarray) -> None:
    """(T,) or (C, T) waveform as a log-magnitude spectrogram (several channels are
    averaged), or (1, mels, frames) log-mel features (a view that ends in the feature domain)
    as they are."""
    import torch

    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 3:
        ax.imshow(a.mean(axis=0), origin="lower", aspect="auto", cmap="magma",
                  interpolation="nearest")
        ax.set_xlabel("frame", fontsize=7)
        ax.set_ylabel("mel band (log-mel view)", fontsize=7)
        ax.tick_params(labelsize=6)
        return
    if a.ndim == 2:
        a = a.mean(axis=0)
    if a.ndim != 1:
        raise ValueError(f"an audio waveform must have shape (T,) or (C, T), got {a.shape}")
    if len(a) < 4:
        raise ValueError(f"an audio waveform needs at least 4 samples, got {len(a)}")
    n_fft = min(256, 2 ** int(math.log2(len(a))))
    spectrum = torch.stft(torch.from_numpy(np.nan_to_num(a)), n_fft=n_fft,
                          hop_length=max(1, n_fft // 4), window=torch.hann_window(n_fft),
                          center=True, return_complex=True)
    decibels = 20 * torch.log10(spectrum.abs() + 1e-8)
    decibels = torch.clamp(decibels, min=float(decibels.max()) - 80.0).numpy()
    ax.imshow(decibels, origin="lower", aspect="auto", cmap="magma", interpolation="nearest")
    ax.set_xlabel("frame", fontsize=7)
    ax.set_ylabel(f"frequency bin (n_fft {n_fft})", fontsize=7)
    ax.tick_params(labelsize=6)


def _share_ylim(axes: Sequence[Axes]) -> None:
    """One y-range per row, so scaling and offset augmentations are visible."""
    limits = np.array([ax.get_ylim() for ax in axes])
    for ax in axes:
        ax.set_ylim(limits[:, 0].min(), limits[:, 1].max())


def _share_clim(axes: Sequence[Axes]) -> None:
    """One colour range per row and kind of picture (dB spectrogram, log-mel), so gain
    changes are visible."""
    kinds: dict[int, list[Axes]] = {}  # by picture height: frequency bins or mel bands
    for ax in axes:
        if ax.images:
            kinds.setdefault(ax.images[0].get_array().shape[0], []).append(ax)
    for group in kinds.values():
        limits = np.array([ax.images[0].get_clim() for ax in group])
        for ax in group:
            for image in ax.images:
                image.set_clim(limits[:, 0].min(), limits[:, 1].max())


def _render_graph(ax: Axes, array: np.ndarray) -> None:
    """A small graph given as its (N, N) adjacency matrix: nodes on a circle, an edge per
    non-zero entry (so dropped edges and nodes of an augmented view are visible)."""
    a = np.asarray(array, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"a graph must be an (N, N) adjacency matrix, got shape {a.shape}")
    count = a.shape[0]
    angle = 2 * np.pi * np.arange(count) / max(count, 1)
    x, y = np.cos(angle), np.sin(angle)
    rows, columns = np.nonzero(np.triu(np.abs(a) + np.abs(a).T, k=1))
    for i, j in zip(rows, columns):
        ax.plot([x[i], x[j]], [y[i], y[j]], color="0.45", linewidth=0.6, zorder=1)
    degree = (a != 0).sum(axis=1)
    ax.scatter(x, y, s=12, c=np.where(degree > 0, "tab:blue", "0.75"), zorder=2)
    ax.set_xlabel(f"{count} nodes, {len(rows)} edges", fontsize=6)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


PREVIEW_STYLES: dict[str, Callable[[Axes, np.ndarray], None]] = {
    "image": _render_image,
    "timeseries": _render_timeseries,
    "audio": _render_audio,
    "graph": _render_graph,
}
_PREPARE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {"image": _prepare_image}
_FINISH_ROW: dict[str, Callable[[Sequence[Axes]], None]] = {
    "timeseries": _share_ylim,
    "audio": _share_clim,
}
_CELL_SIZE: dict[str, tuple[float, float]] = {"image": (1.9, 2.0)}


def _figure_augmentation_preview(originals: Any, views: Sequence[Any], *, style: str = "image",
                                 titles: Sequence[str] | None = None,
                                 max_samples: int = 8) -> Figure:
    if style not in PREVIEW_STYLES:
        raise ValueError(
            f"unknown picture style {style!r} for an augmentation preview; known: "
            f"{sorted(PREVIEW_STYLES)}"
        )
    render = PREVIEW_STYLES[style]
    prepare = _PREPARE.get(style)
    finish = _FINISH_ROW.get(style)
    original = _to_numpy(originals)
    if original.ndim < 1 or len(original) == 0:
        raise ValueError("originals must be a non-empty (N, ...) batch")
    view_arrays = [_to_numpy(view) for view in views]
    for number, view in enumerate(view_arrays, start=1):
        if view.ndim < 1 or len(view) != len(original):
            raise ValueError(
                f"view {number} has {len(view) if view.ndim else 0} samples but originals have "
                f"{len(original)}; every view must be a (N, ...) batch of the same samples"
            )
    columns = 1 + len(view_arrays)
    if titles is None:
        titles = ["original"] + [f"view {v}" for v in range(1, columns)]
    elif len(titles) != columns:
        raise ValueError(f"titles needs {columns} entries (original + {columns - 1} views), "
                         f"got {len(titles)}")
    rows = min(len(original), max_samples)
    width, height = _CELL_SIZE.get(style, (2.8, 2.0))
    fig = Figure(figsize=(width * columns, height * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for row in range(rows):
        for column, batch in enumerate([original] + view_arrays):
            sample = np.asarray(batch[row], dtype=float)
            if prepare is not None:
                sample = prepare(original[row], sample)
            ax = axes[row, column]
            render(ax, sample)
            if row == 0:
                ax.set_title(titles[column], fontsize=9)
                if column == 0 and len(ax.get_legend_handles_labels()[1]) > 1:
                    ax.legend(fontsize=6, loc="best")  # e.g. which line is which channel
            if column == 0:
                existing = ax.get_ylabel()
                ax.set_ylabel(f"sample {row}" + (f"\n{existing}" if existing else ""),
                              fontsize=8)
            else:
                ax.set_ylabel("")  # the first column names the axis for the whole row
        if finish is not None:
            finish(list(axes[row]))
    fig.suptitle(f"Augmentation preview ({style}): each row is one sample and its views",
                 fontsize=10)
    return fig


def plot_augmentation_preview(originals: Any, views: Sequence[Any], path: PathLike, *,
                              style: str = "image", titles: Sequence[str] | None = None,
                              max_samples: int = 8) -> bytes:
    """Grid of samples (rows) by original + augmented views (columns).

    `originals` is a (N, ...) array/tensor, `views` a list of V (N, ...) batches of the same
    samples (their per-sample shapes may differ from the original's, e.g. multi-crop). Samples
    are drawn by `PREVIEW_STYLES[style]`; at most `max_samples` rows are shown. `titles`
    names the 1 + V columns. Raises ValueError for an unknown style or mismatched batches."""
    return _save(_figure_augmentation_preview(originals, views, style=style, titles=titles,
                                              max_samples=max_samples), path)


# ---------------------------------------------------------------------------------------------
# 5. augmentation-strength sweep


def _figure_strength_sweep(strengths: Sequence[float], positive_similarity: Sequence[float],
                           probe_accuracy: Sequence[float], *,
                           probe_label: str = "linear probe top-1",
                           augmentation_complexity: Sequence[float] | None = None,
                           augmentation_complexity_mean: Sequence[float] | None = None) -> Figure:
    series = [strengths, positive_similarity, probe_accuracy]
    names = ["strengths", "positive_similarity", "probe_accuracy"]
    for name, values in (("augmentation_complexity", augmentation_complexity),
                         ("augmentation_complexity_mean", augmentation_complexity_mean)):
        if values is not None:
            series.append(values)
            names.append(name)
    arrays = [np.asarray(_to_numpy(values), dtype=float).reshape(-1) for values in series]
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) != 1:
        got = ", ".join(str(length) for length in lengths[:-1]) + f" and {lengths[-1]}"
        raise ValueError(f"{', '.join(names[:-1])} and {names[-1]} must have the same length, "
                         f"got {got}")
    if lengths[0] == 0:
        raise ValueError("a strength sweep needs at least one point")
    order = np.argsort(arrays[0], kind="stable")
    x, similarity, accuracy, *complexity = (a[order] for a in arrays)
    fig = Figure(figsize=(13.5 if complexity else 9, 3.6), layout="constrained")
    axes = fig.subplots(1, 3 if complexity else 2, sharex=True)
    panels = ((axes[0], similarity, "positive-pair cosine similarity", "tab:blue",
               "views agree more at low strength"),
              (axes[1], accuracy, probe_label, "tab:orange", "downstream quality"))
    for ax, values, label, colour, subtitle in panels:
        _sweep_line(ax, x, values, colour)
        ax.set_ylabel(label)
        ax.set_title(f"{label}\n({subtitle})", fontsize=10)
    right = axes[1]
    finite = np.isfinite(accuracy) & np.isfinite(x)
    if finite.any():
        best = np.flatnonzero(finite)[np.argmax(accuracy[finite])]
        right.plot(x[best], accuracy[best], marker="*", markersize=14, color="tab:red",
                   linestyle="none", label=f"best: {accuracy[best]:.3g} at {x[best]:.3g}")
        right.legend(fontsize=8, loc="best")
    if complexity:
        ax = axes[2]
        labels = ("kappa (sup)", "kappa (mean)")
        for values, label, colour in zip(complexity, labels, ("tab:green", "tab:olive")):
            _sweep_line(ax, x, values, colour, label=label)
        ax.set_ylabel("augmentation complexity kappa")
        ax.set_title("augmentation complexity kappa\n(smaller: views forget more of the input)",
                     fontsize=10)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle("Augmentation strength sweep", fontsize=12)
    return fig


def _sweep_line(ax, x: np.ndarray, values: np.ndarray, colour: str, label: str | None = None):
    finite = np.isfinite(values) & np.isfinite(x)
    ax.plot(x[finite], values[finite], marker="o", color=colour, linewidth=1.5, label=label)
    ax.set_xlabel("augmentation strength")
    ax.grid(True, alpha=0.3)


def plot_strength_sweep(strengths: Sequence[float], positive_similarity: Sequence[float],
                        probe_accuracy: Sequence[float], path: PathLike, *,
                        probe_label: str = "linear probe top-1",
                        augmentation_complexity: Sequence[float] | None = None,
                        augmentation_complexity_mean: Sequence[float] | None = None) -> bytes:
    """Positive-pair similarity (left) and probe accuracy (middle) against augmentation strength,
    with markers and the best strength starred, and, when given, a third panel with the
    augmentation complexity kappa (`contrastlearn.evaluation.augmentation_complexity`; its sup
    and mean forms). Raises ValueError when lengths differ or are 0.
    """
    return _save(_figure_strength_sweep(
        strengths, positive_similarity, probe_accuracy, probe_label=probe_label,
        augmentation_complexity=augmentation_complexity,
        augmentation_complexity_mean=augmentation_complexity_mean), path)
