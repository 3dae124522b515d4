import numpy as np
import pytest
import torch
from PIL import Image

from contrastlearn.data.arrays import DataError, read_npz
from contrastlearn.data.resolve import resolve_dataset
from contrastlearn.modalities.image.data import FASHION_MNIST_DIR, FASHION_MNIST_INSTALL
from tests.conftest import require_system_data


def test_digits_holdout_is_stratified_and_documented():
    splits = resolve_dataset("digits")
    assert splits.train.x.shape[1:] == (1, 8, 8)
    assert len(splits.train) + len(splits.test) == 1797
    assert splits.info["test_split"] == "holdout_0.2_seed0"
    assert float(splits.train.x.min()) >= 0.0 and float(splits.train.x.max()) <= 1.0
    train_counts = torch.bincount(splits.train.y).float()
    test_counts = torch.bincount(splits.test.y).float()
    assert torch.allclose(test_counts / train_counts, torch.full((10,), 0.25), atol=0.03)
    assert set(splits.train.ids.tolist()).isdisjoint(splits.test.ids.tolist())


def test_fashion_mnist_official_split():
    require_system_data(FASHION_MNIST_DIR.is_dir(), FASHION_MNIST_INSTALL)
    splits = resolve_dataset("fashion-mnist")
    assert splits.train.x.shape == (60000, 1, 28, 28) and splits.test.x.shape == (10000, 1, 28, 28)
    assert splits.info["test_split"] == "test"
    assert torch.bincount(splits.test.y).tolist() == [1000] * 10


def test_npz_with_and_without_test_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 12, 12), dtype=np.uint8)
    y = np.repeat(np.arange(4), 10)
    np.savez(tmp_path / "with.npz", x=x, y=y, x_test=x[:8], y_test=y[:8])
    splits = resolve_dataset(tmp_path / "with.npz")
    assert len(splits.train) == 40 and len(splits.test) == 8 and splits.info["test_split"] == "test"
    assert float(splits.train.x.max()) <= 1.0
    np.savez(tmp_path / "without.npz", x=x, y=y)
    splits = resolve_dataset(tmp_path / "without.npz")
    assert len(splits.train) == 32 and len(splits.test) == 8


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((0, 8, 8))}, "empty"),
        ({"x": np.full((4, 8, 8), np.nan)}, "NaN or Inf"),
        ({"x": np.zeros((4, 8, 8)), "y": np.zeros(5)}, "5 labels but there are 4 samples"),
        ({"x": np.zeros((4, 2, 3, 8, 8))}, "must be"),
        ({"x": np.zeros((4, 7, 9, 9))}, "channel axis"),
        ({"x": np.zeros((4, 8, 8)), "x_test": np.zeros((2, 9, 9))}, "x_test samples"),
    ],
)
def test_bad_arrays_are_rejected_clearly(arrays, message):
    with pytest.raises(DataError, match=message):
        resolve_dataset(arrays)


def test_bad_npz_files(tmp_path):
    (tmp_path / "corrupt.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read"):
        read_npz(tmp_path / "corrupt.npz")
    np.savez(tmp_path / "nox.npz", images=np.zeros((2, 8, 8)))
    with pytest.raises(DataError, match="no array 'x'"):
        read_npz(tmp_path / "nox.npz")
    with pytest.raises(DataError, match="does not exist"):
        read_npz(tmp_path / "missing.npz")
    with pytest.raises(DataError, match="neither a registered dataset"):
        resolve_dataset("no-such-dataset")


def _write_folder(root, corrupt=False):
    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (root / label).mkdir(parents=True)
        for index in range(5):
            pixels = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{index}.png")
    if corrupt:
        (root / "dogs" / "broken.png").write_bytes(b"\x89PNG garbage")


def test_image_folder_with_class_subfolders(tmp_path):
    _write_folder(tmp_path / "pets")
    splits = resolve_dataset(tmp_path / "pets")
    assert splits.train.x.shape[1:] == (3, 10, 10)
    assert sorted(torch.cat([splits.train.y, splits.test.y]).tolist()) == [0] * 5 + [1] * 5


def test_corrupt_image_file_is_named(tmp_path):
    _write_folder(tmp_path / "pets", corrupt=True)
    with pytest.raises(DataError, match="broken.png"):
        resolve_dataset(tmp_path / "pets")


def test_torch_dataset_is_split_at_random():
    dataset = torch.utils.data.TensorDataset(torch.rand(20, 1, 8, 8), torch.arange(20) % 2)
    splits = resolve_dataset(dataset)
    assert len(splits.train) == 16 and len(splits.test) == 4


@pytest.mark.parametrize(
    ("labels", "message"),
    [(np.array([0, 1, -1, 2]), "negative labels"), (np.array([0.0, np.nan, 1.0, 2.0]), "NaN"),
     (np.array([0.5, 1.0, 2.0, 3.0]), "non-integer")],
)
def test_bad_labels_are_rejected(labels, message):
    with pytest.raises(DataError, match=message):
        resolve_dataset({"x": np.zeros((4, 8, 8)), "y": labels})


def test_string_labels_become_classes():
    splits = resolve_dataset({"x": np.zeros((4, 8, 8)), "y": np.array(["a", "b", "a", "b"]),
                              "x_test": np.zeros((2, 8, 8)), "y_test": np.array(["a", "b"])})
    assert splits.train.y.tolist() == [0, 1, 0, 1]


def test_test_split_uses_the_training_scale():
    x = np.full((4, 8, 8), 200.0)
    x_test = np.full((2, 8, 8), 100.0)
    splits = resolve_dataset({"x": x, "x_test": x_test})
    assert float(splits.test.x.max()) == pytest.approx(0.5)
    assert splits.info["input_scale"] == 200.0
