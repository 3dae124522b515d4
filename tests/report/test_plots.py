"""The run pictures: valid, non-blank PNGs written and returned, and clear errors."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from contrastlearn.report import (
    PREVIEW_STYLES,
    plot_augmentation_preview,
    plot_embedding_map,
    plot_similarity_histograms,
    plot_strength_sweep,
    plot_training_curves,
    plots,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(data: bytes, path) -> np.ndarray:
    """Same bytes in the file and the return value; a decodable, non-uniform image."""
    assert data.startswith(PNG_SIGNATURE)
    assert path.read_bytes() == data
    image = imread(io.BytesIO(data), format="png")
    assert image.ndim == 3 and image.shape[0] > 0 and image.shape[1] > 0
    assert image.reshape(-1, image.shape[-1]).std(axis=0).max() > 0, "image is one colour"
    return image


def metric_records() -> list[dict]:
    records = []
    for step in range(0, 50, 5):
        record = {"step": step, "epoch": step // 20, "elapsed_seconds": step * 0.1,
                  "loss": 4.0 - step * 0.05, "lr": 1e-3 * (1 - step / 50)}
        if step % 10 == 0:  # only some records carry these keys
            record.update(diag_pos_similarity=0.2 + step / 100, diag_neg_similarity=0.05,
                          knn_monitor_top1=0.3 + step / 200, my_custom_metric=step ** 0.5)
        records.append(record)
    records[1]["grad_norm"] = float("nan")  # never finite: no panel
    records[2]["loss"] = None
    records[3]["uniformity"] = -2.0
    records[4]["similarity_histogram"] = {"bins": 3, "range": [-1, 1], "positive": [0, 1, 2],
                                          "negative": [2, 1, 0]}
    records[4]["tags"] = ["a", "b"]
    records[5]["flag"] = True
    return records


def histogram_records(steps: int = 12, bins: int = 20) -> list[dict]:
    centres = np.linspace(-1, 1, bins)
    records = []
    for index in range(steps):
        shift = index / steps
        positive = np.exp(-((centres - 0.2 - 0.6 * shift) ** 2) / 0.05) * 100
        negative = np.exp(-((centres + 0.1 * shift) ** 2) / 0.1) * 1000
        records.append({"step": index * 100, "loss": 1.0})  # a record without a histogram
        records.append({"step": index * 100 + 50, "similarity_histogram": {
            "bins": bins, "range": [-1.0, 1.0], "positive": positive.round().tolist(),
            "negative": negative.round().tolist()}})
    return records


# ---------------------------------------------------------------------------------------------
# training curves


def test_training_curves_png_and_panels(tmp_path):
    records = metric_records()
    path = tmp_path / "nested" / "curves.png"
    assert_png(plot_training_curves(records, path), path)
    fig = plots._figure_training_curves(records)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[0] == "training loss"
    assert "learning rate" in titles and "k-NN monitor top-1" in titles
    assert titles[-1] == "my custom metric"  # unknown keys come after known ones
    joined = " ".join(titles)
    for skipped in ("step", "epoch", "elapsed", "grad", "tags", "flag", "histogram"):
        assert skipped not in joined
    loss_line = fig.axes[0].lines[0]
    assert len(loss_line.get_xdata()) == len(records) - 1  # the None loss is skipped
    assert all(ax.get_xlabel() == "training step" for ax in fig.axes if ax.get_visible())


def test_training_curves_accepts_str_path_and_single_metric(tmp_path):
    path = tmp_path / "one.png"
    data = plot_training_curves([{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5}], str(path))
    assert_png(data, path)


@pytest.mark.parametrize("records", [[], [{"step": 1}], [{"step": 1, "loss": math.nan}],
                                     [{"step": 2, "similarity_histogram": {"bins": 1}}]])
def test_training_curves_without_scalars_raise(records, tmp_path):
    with pytest.raises(ValueError, match="no scalar metrics to plot"):
        plot_training_curves(records, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------------------------------------
# similarity histograms


def test_similarity_histograms_png_and_even_steps(tmp_path):
    records = histogram_records()
    path = tmp_path / "hist.png"
    assert_png(plot_similarity_histograms(records, path), path)
    fig = plots._figure_similarity_histograms(records)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 8
    assert visible[0].get_title().startswith("step 50")  # first and last steps are shown
    assert visible[-1].get_title().startswith("step 1150")
    assert visible[0].get_legend() is not None
    labels = [text.get_text() for text in visible[0].get_legend().get_texts()]
    assert labels == ["positive pairs", "negative pairs"]
    assert visible[0].get_xlabel() == "cosine similarity"


def test_similarity_histograms_few_records(tmp_path):
    path = tmp_path / "hist.png"
    assert_png(plot_similarity_histograms(histogram_records(steps=2), path), path)
    assert len([a for a in plots._figure_similarity_histograms(histogram_records(2)).axes
                if a.get_visible()]) == 2


def test_similarity_histograms_errors(tmp_path):
    with pytest.raises(ValueError, match="no similarity_histogram"):
        plot_similarity_histograms([{"step": 1, "loss": 2.0}], tmp_path / "x.png")
    bad = [{"step": 3, "similarity_histogram": {"bins": 4, "range": [-1, 1],
                                                "positive": [1, 2], "negative": [1, 2, 3, 4]}}]
    with pytest.raises(ValueError, match="step 3"):
        plot_similarity_histograms(bad, tmp_path / "x.png")


# ---------------------------------------------------------------------------------------------
# embedding map


def clustered(n_per_class: int = 15, classes: int = 3, dim: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 5
    labels = np.repeat(np.arange(classes), n_per_class)
    return centres[labels] + rng.normal(size=(len(labels), dim)), labels


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embedding_map_with_labels_has_legend(method, tmp_path):
    x, y = clustered()
    path = tmp_path / f"{method}.png"
    assert_png(plot_embedding_map(x, y, path, method=method, class_names=["a", "b", "c"]), path)
    fig = plots._figure_embedding_map(torch.from_numpy(x), torch.from_numpy(y), method=method,
                                      class_names=["a", "b", "c"])
    legend = fig.axes[0].get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b", "c"]
    assert str(len(x)) in fig.axes[0].get_title()


def test_embedding_map_subsamples_stratified_and_without_labels(tmp_path):
    x, y = clustered(n_per_class=40, classes=3)
    y[:5] = 7  # a rare class must survive the subsample
    keep = plots._subsample(len(x), y, max_points=30, seed=0)
    assert len(keep) == 30 and len(np.unique(keep)) == 30
    assert set(np.unique(y[keep])) == set(np.unique(y))
    assert np.array_equal(keep, plots._subsample(len(x), y, max_points=30, seed=0))
    fig = plots._figure_embedding_map(x, method="pca", max_points=30)
    assert "30 embeddings" in fig.axes[0].get_title()
    assert "subsampled from 120" in fig.axes[0].get_title()
    assert fig.axes[0].get_legend() is None
    path = tmp_path / "nolabels.png"
    assert_png(plot_embedding_map(x, path=path, method="pca"), path)


def _legend_colours(legend) -> list[tuple]:
    return [tuple(np.round(handle.get_facecolor()[0][:3], 3)) for handle in legend.legend_handles]


def test_embedding_map_up_to_20_classes_get_distinct_categorical_colours():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(80, 4)), np.arange(80) % 15
    fig = plots._figure_embedding_map(x, y, method="pca")
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [str(c) for c in range(15)]
    colours = _legend_colours(legend)
    tab20 = {tuple(np.round(c, 3)) for c in plots.colormaps["tab20"].colors}
    assert len(set(colours)) == 15 and set(colours) <= tab20
    assert len(fig.axes) == 1  # no colour bar


def test_embedding_map_beyond_20_classes_colours_the_19_most_frequent():
    rng = np.random.default_rng(1)
    y = np.concatenate([np.repeat(np.arange(19), 5), np.arange(19, 45)])  # 26 rare classes
    x = rng.normal(size=(len(y), 4))
    fig = plots._figure_embedding_map(x, y, method="pca")
    legend = fig.axes[0].get_legend()
    names = [t.get_text() for t in legend.get_texts()]
    assert names == [*map(str, range(19)), "other (26 classes)"]
    assert "19 most frequent of 45" in legend.get_title().get_text()
    colours = _legend_colours(legend)
    greys = {tuple(np.round(to_rgb(c), 3)) for c in (plots.OTHER_COLOUR, "#7f7f7f", "#c7c7c7")}
    assert colours[-1] in greys and not greys & set(colours[:-1]), "only 'other' is grey"
    assert len(set(colours)) == 20
    assert len(fig.axes) == 1  # no colour bar
    FigureCanvasAgg(fig).draw()
    box, page = legend.get_window_extent(), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1


def test_embedding_map_errors(tmp_path):
    x, y = clustered()
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN/Inf"):
        plot_embedding_map(bad, y, tmp_path / "x.png", method="pca")
    with pytest.raises(ValueError, match="lengths must match"):
        plot_embedding_map(x, y[:-1], tmp_path / "x.png", method="pca")
    with pytest.raises(ValueError, match="at least 3"):
        plot_embedding_map(x[:2], None, tmp_path / "x.png", method="pca")
    with pytest.raises(ValueError, match="unknown method"):
        plot_embedding_map(x, y, tmp_path / "x.png", method="mds")
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        plot_embedding_map(x[0], None, tmp_path / "x.png", method="pca")


def test_embedding_map_umap_missing_says_how_to_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "umap", None)  # makes `import umap` fail
    x, y = clustered()
    with pytest.raises(ImportError, match="pip install umap-learn"):
        plot_embedding_map(x, y, tmp_path / "x.png", method="umap")


# ---------------------------------------------------------------------------------------------
# augmentation preview


def test_preview_grayscale_and_rgb_images_with_smaller_crops(tmp_path):
    generator = torch.Generator().manual_seed(0)
    gray = torch.rand(3, 1, 16, 16, generator=generator)
    views = [torch.clamp(gray * 1.5, 0, 1), torch.rand(3, 1, 8, 8, generator=generator)]
    path = tmp_path / "gray.png"
    assert_png(plot_augmentation_preview(gray, views, path), path)
    fig = plots._figure_augmentation_preview(gray, views)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["original", "view 1", "view 2"]
    assert len(fig.axes) == 9 and fig.axes[0].get_ylabel().startswith("sample 0")
    assert fig.axes[2].images[0].get_array().shape == (8, 8)

    rgb = np.random.default_rng(0).normal(size=(2, 3, 12, 12))  # normalised, outside [0, 1]
    rgb_views = [rgb + 3.0, rgb[:, :, :6, :6]]
    path = tmp_path / "rgb.png"
    data = plot_augmentation_preview(rgb, rgb_views, path, titles=["x", "bright", "crop"])
    assert_png(data, path)
    fig = plots._figure_augmentation_preview(rgb, rgb_views)
    shown, bright = (fig.axes[i].images[0].get_array() for i in (0, 1))
    assert bright.shape == (12, 12, 3)
    assert float(np.mean(bright)) > float(np.mean(shown)) + 0.3  # on the original's scale


def test_preview_timeseries_and_audio(tmp_path):
    t = torch.linspace(0, 6.28, 64)
    series = torch.stack([torch.stack([torch.sin(t), torch.cos(t)]) * (i + 1) for i in range(2)])
    views = [series * 2, series[:, :, :32], series[:, :1]]
    path = tmp_path / "ts.png"
    assert_png(plot_augmentation_preview(series, views, path, style="timeseries"), path)
    fig = plots._figure_augmentation_preview(series, views, style="timeseries")
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[3].lines) == 1
    assert fig.axes[0].get_legend() is not None  # which line is which channel
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()  # shared per row: scaling shows
    path = tmp_path / "ts1d.png"
    assert_png(plot_augmentation_preview(np.sin(np.arange(50.0))[None], [np.zeros((1, 30))],
                                         path, style="timeseries"), path)

    rng = np.random.default_rng(0)
    waves = np.sin(np.arange(2000) * 0.3)[None, None] + 0.1 * rng.normal(size=(2, 1, 2000))
    audio_views = [waves * 0.1, waves[:, 0, :300], waves[:, :, :20]]
    path = tmp_path / "audio.png"
    assert_png(plot_augmentation_preview(waves, audio_views, path, style="audio"), path)
    fig = plots._figure_augmentation_preview(waves, audio_views, style="audio")
    assert fig.axes[0].images[0].get_array().shape[0] == 129  # n_fft 256 -> 129 bins
    assert fig.axes[3].images[0].get_array().shape[0] == 9  # short input -> n_fft 16


def test_preview_graphs_show_dropped_edges(tmp_path):
    ring = np.roll(np.eye(6), 1, axis=1) + np.roll(np.eye(6), -1, axis=1)  # 6-cycle
    dropped = ring.copy()
    dropped[0, 1] = dropped[1, 0] = 0.0  # edge dropping removes one edge
    originals = np.stack([ring, ring])
    path = tmp_path / "graphs.png"
    assert_png(plot_augmentation_preview(originals, [np.stack([dropped, ring])], path,
                                         style="graph"), path)
    fig = plots._figure_augmentation_preview(originals, [np.stack([dropped, ring])],
                                             style="graph")
    assert len(fig.axes[0].lines) == 6 and len(fig.axes[1].lines) == 5
    assert "5 edges" in fig.axes[1].get_xlabel()
    with pytest.raises(ValueError, match="adjacency"):
        plots._figure_augmentation_preview(np.ones((1, 3, 4)), [], style="graph")


def test_preview_errors(tmp_path):
    images = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="known:.*image.*timeseries"):
        plot_augmentation_preview(images, [images], tmp_path / "x.png", style="molecule")
    with pytest.raises(ValueError, match="view 1 has 1 samples"):
        plot_augmentation_preview(images, [images[:1]], tmp_path / "x.png")
    with pytest.raises(ValueError, match="titles needs 2"):
        plot_augmentation_preview(images, [images], tmp_path / "x.png", titles=["a"])
    assert set(PREVIEW_STYLES) >= {"image", "timeseries", "audio"}


def test_preview_limits_rows_and_allows_no_views(tmp_path):
    images = torch.rand(12, 3, 6, 6)
    fig = plots._figure_augmentation_preview(images, [images], max_samples=4)
    assert len(fig.axes) == 8
    path = tmp_path / "only.png"
    assert_png(plot_augmentation_preview(images[:2], [], path), path)


# ---------------------------------------------------------------------------------------------
# strength sweep


def test_strength_sweep_png_and_best_point(tmp_path):
    strengths = [0.8, 0.2, 0.5, 1.0]
    similarity = [0.7, 0.95, 0.85, 0.6]
    accuracy = [0.81, 0.7, 0.78, float("nan")]
    path = tmp_path / "sweep.png"
    assert_png(plot_strength_sweep(strengths, similarity, accuracy, path), path)
    fig = plots._figure_strength_sweep(np.array(strengths), torch.tensor(similarity), accuracy,
                                       probe_label="k-NN top-1")
    left, right = fig.axes
    assert list(left.lines[0].get_xdata()) == [0.2, 0.5, 0.8, 1.0]  # sorted by strength
    assert right.get_ylabel() == "k-NN top-1"
    assert left.get_xlabel() == "augmentation strength"
    assert "0.81 at 0.8" in right.get_legend().get_texts()[0].get_text()


def test_strength_sweep_errors(tmp_path):
    with pytest.raises(ValueError, match="same length, got 2, 3 and 2"):
        plot_strength_sweep([0.1, 0.2], [1, 2, 3], [0.5, 0.6], tmp_path / "x.png")
    with pytest.raises(ValueError, match="at least one point"):
        plot_strength_sweep([], [], [], tmp_path / "x.png")


def test_embedding_map_of_collapsed_embeddings_is_a_clear_error(tmp_path):
    constant = np.ones((50, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="collapsed"):
        plot_embedding_map(constant, np.arange(50) % 5, tmp_path / "map.png")
