"""Arrays of strings, Python objects or complex numbers are refused wherever user arrays enter
(arrays, dicts, .npz files, embedding and evaluation inputs), with a DataError that names the
array, its dtype and the fix, instead of a raw numpy/torch error or a silently dropped
imaginary part. Text samples stay strings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import contrastlearn
from contrastlearn.data.arrays import DataError
from contrastlearn.data.resolve import resolve_dataset, to_samples

RNG = np.random.default_rng(0)
IMAGES = RNG.random((20, 8, 8))
SERIES = RNG.random((20, 1, 16))
LABELS = np.arange(20) % 2


def bad(array: np.ndarray, kind: str) -> np.ndarray:
    """`array` as strings, as Python objects, or as complex numbers."""
    if kind == "str":
        return array.astype(str)
    if kind == "object":
        return array.astype(object)
    return array + 1j * array


EXPECTED = {"str": r"dtype <U\d+ \(strings\).*astype\(np.float32\)",
            "object": r"dtype object.*np.asarray\(",
            "complex": r"dtype complex128; contrastlearn needs real numbers: pass \w+.real"}
ROOMS = {"image": IMAGES, "timeseries": SERIES}


@pytest.mark.parametrize("modality", ["image", "timeseries"])
@pytest.mark.parametrize("kind", ["str", "complex"])
def test_bad_x_is_named_with_its_dtype_and_fix(modality, kind):
    x = bad(ROOMS[modality], kind)
    with pytest.raises(DataError, match="arrays: x has " + EXPECTED[kind]):
        resolve_dataset(x, modality=modality)
    with pytest.raises(DataError, match="arrays: x_test has " + EXPECTED[kind]):
        resolve_dataset({"x": ROOMS[modality], "x_test": x}, modality=modality)


def test_object_images_are_refused():
    with pytest.raises(DataError, match="arrays: x has " + EXPECTED["object"]):
        resolve_dataset((bad(IMAGES, "object"), LABELS))


@pytest.mark.parametrize("modality", ["image", "timeseries"])
@pytest.mark.parametrize("kind", ["str", "complex"])
def test_bad_npz_arrays_are_refused(tmp_path, modality, kind):
    path = tmp_path / "bad.npz"
    np.savez(path, x=bad(ROOMS[modality], kind), y=LABELS)
    with pytest.raises(DataError, match="bad: x has " + EXPECTED[kind]):
        resolve_dataset(path, modality=modality)


@pytest.mark.parametrize("modality", ["image", "timeseries"])
@pytest.mark.parametrize("kind", ["str", "object", "complex"])
def test_bad_inputs_to_embed_are_refused(modality, kind):
    if modality == "timeseries" and kind == "object":
        pytest.skip("an object array of number arrays is how series of unequal length come")
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(64 if modality == "image" else 16, 4))
    inputs = bad(ROOMS[modality][:3], kind)
    with pytest.raises(DataError, match=EXPECTED[kind]):
        to_samples(inputs, modality)
    with pytest.raises(DataError, match=EXPECTED[kind]):
        contrastlearn.embed(encoder, inputs, modality=modality)


def test_complex_data_given_to_evaluate_is_refused():
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
    with pytest.raises(DataError, match=EXPECTED["complex"]):
        contrastlearn.evaluate(encoder, (bad(IMAGES, "complex"), LABELS), modality="image")


def test_series_with_strings_inside_a_list_are_refused():
    ragged = [np.arange(5.0), np.array(["1", "2", "x"])]
    with pytest.raises(DataError, match=r"x\[1\] has dtype <U1 \(strings\)"):
        resolve_dataset({"x": ragged}, modality="timeseries")
    objects = np.empty(2, dtype=object)
    objects[0], objects[1] = np.arange(5.0), np.array(["a", 2.0], dtype=object)
    with pytest.raises(DataError, match=r"x\[1\] holds entries that are not real numbers"):
        resolve_dataset({"x": objects}, modality="timeseries")


def test_series_of_unequal_length_in_an_object_array_still_work():
    objects = np.empty(10, dtype=object)
    for index in range(10):
        objects[index] = np.arange(5.0 + index % 3)
    splits = resolve_dataset({"x": objects, "y": np.arange(10) % 2}, modality="timeseries")
    assert splits.info["padded"] and splits.info["max_length"] == 7


@pytest.mark.parametrize("modality", ["image", "timeseries"])
def test_complex_labels_are_refused(modality):
    with pytest.raises(DataError, match=r"y has dtype complex128; class labels must be"):
        resolve_dataset((ROOMS[modality], LABELS + 0j), modality=modality)
    with pytest.raises(DataError, match=r"groups has dtype complex128"):
        resolve_dataset({"x": ROOMS[modality], "groups": LABELS + 0j}, modality=modality)


def test_text_still_takes_arrays_of_strings_and_refuses_complex_labels():
    texts = np.array([f"sentence number {index}" for index in range(20)])
    splits = resolve_dataset({"x": texts, "y": LABELS}, modality="text")
    assert splits.info["num_train"] + splits.info["num_test"] == 20
    assert to_samples(texts[:3], "text") == list(texts[:3])
    with pytest.raises(DataError, match="complex numbers; class labels must be"):
        resolve_dataset({"x": texts, "y": LABELS + 1j}, modality="text")


def test_wide_unsigned_images_are_scaled_not_crashed():
    x = (IMAGES * 4000).astype(np.uint16)
    splits = resolve_dataset((x, LABELS))
    assert splits.info["input_scale"] == float(x.max())
    assert float(splits.train.x.max()) <= 1.0


def test_complex_tensors_are_refused_with_their_own_dtype():
    x = torch.randn(20, 8, 8, dtype=torch.complex64)
    with pytest.raises(DataError, match=r"x has dtype complex64; contrastlearn needs real"):
        resolve_dataset(x)
    with pytest.raises(DataError, match=r"x has dtype complex64; contrastlearn needs real"):
        resolve_dataset(x, modality="timeseries")
