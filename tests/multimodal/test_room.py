"""The multimodal room: records split through each room, the composed encoder, paired views,
records files, export and embedding, and a short training run through the public API."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

import contrastlearn
from contrastlearn.cli import main
from contrastlearn.config import recipe_from_dict
from contrastlearn.core.registry import AUGMENTATIONS, ENCODERS, METHODS, MODALITIES
from contrastlearn.data.arrays import DataError
from contrastlearn.data.resolve import filled_encoder_kwargs, prepare_for_encoder, resolve_dataset
from contrastlearn.modalities.multimodal import MultiBatch, MultimodalEncoder

pytestmark = pytest.mark.usefixtures("one_thread")

WORDS = ["zero", "one", "two", "three"]


def records(count: int = 80, seed: int = 0) -> dict:
    """Images whose bright quadrant is the class, captions that name it."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(WORDS)
    images = rng.random((count, 1, 8, 8)).astype(np.float32) * 0.2
    for index, label in enumerate(labels):
        row, col = divmod(int(label), 2)
        images[index, 0, row * 4:(row + 1) * 4, col * 4:(col + 1) * 4] += 0.8
    captions = [f"{rng.choice(['a', 'the'])} picture of {WORDS[label]}" for label in labels]
    return {"x": {"image": images, "text": captions}, "y": labels, "class_names": WORDS,
            "class_prompts": {word: [f"picture of {word}"] for word in WORDS}}


ENCODERS_SPEC = {"image": {"name": "small_cnn", "kwargs": {"width": 8, "out_dim": 16}},
                 "text": {"name": "scratch_text_encoder",
                          "kwargs": {"dim": 16, "depth": 1, "heads": 2, "max_length": 16}}}


def built(data: dict | None = None):
    splits = resolve_dataset(data or records(), modality="multimodal")
    factory = ENCODERS.get("multimodal_encoder")
    encoder = factory(**filled_encoder_kwargs(factory, {"encoders": ENCODERS_SPEC,
                                                        "embed_dim": 8}, splits))
    return prepare_for_encoder(splits, encoder), encoder


def test_records_are_split_by_each_room_and_stay_aligned():
    splits, _ = built()
    assert splits.modality == "multimodal"
    assert splits.info["num_train"] + splits.info["num_test"] == 80
    train = splits.train
    assert set(train.parts) == {"image", "text"}
    assert len(train.parts["image"]) == len(train.parts["text"]) == len(train)
    # identical captions are one item: never each other's negatives
    texts = resolve_dataset(records(), modality="multimodal").train.parts["text"].texts
    same = [i for i in range(len(texts)) if texts[i] == texts[0]]
    assert len(same) > 1 and (train.ids[same] == train.ids[0]).all()
    assert not set(splits.test.ids.tolist()) & set(train.ids.tolist())


def test_encoder_embeds_each_modality_and_fuses_them():
    splits, encoder = built()
    batch = splits.train.batch_x(torch.arange(6))
    assert isinstance(batch, MultiBatch) and len(batch) == 6 and len(batch[1:3]) == 2
    assert encoder.embed("image", batch.parts["image"]).shape == (6, 8)
    fused = encoder(batch)
    assert fused.shape == (6, encoder.out_dim) == (6, 16)
    assert torch.allclose(fused[:, :8].norm(dim=1), torch.ones(6), atol=1e-5)
    with pytest.raises(TypeError, match="encoder.embed"):
        encoder(batch.parts["image"])


def test_paired_views_use_each_rooms_policy_and_keep_originals():
    splits, encoder = built()
    batch = splits.train.batch_x(torch.arange(8))
    offered = MODALITIES.get("multimodal").view_inputs((), encoder)
    factory = AUGMENTATIONS.get("paired_views")
    views = factory(views={"image": {"name": "simclr_views"}, "text": {"name": "eda_views"}},
                    count=2, **offered)
    first = views(batch, torch.Generator().manual_seed(3))
    again = views(batch, torch.Generator().manual_seed(3))
    assert len(first) == views.num_views == 2
    assert first[0].parts["image"].shape == batch.parts["image"].shape
    assert not torch.equal(first[0].parts["image"], first[1].parts["image"])
    for made, remade in zip(first, again):
        assert all(torch.equal(made.parts[k], remade.parts[k]) for k in made.parts)
    kept = factory(views={"image": {"name": "simclr_views"}}, keep_original={"image": 1.0},
                   **offered)(batch, torch.Generator().manual_seed(0))
    assert torch.equal(kept[0].parts["image"], batch.parts["image"])
    assert torch.equal(kept[0].parts["text"], batch.parts["text"])  # no text policy: as is
    with pytest.raises(ValueError, match="keep_original.image"):
        factory(keep_original={"image": 2.0})


@pytest.mark.parametrize("change, message", [
    (lambda d: d["x"].pop("text"), "at least two modalities"),
    (lambda d: d["x"].update(sound=d["x"]["text"]), "are not modalities"),
    (lambda d: d["x"].update(text=d["x"]["text"][:-1]), "different record counts"),
    (lambda d: d["x"]["text"].__setitem__(5, ""), "record 5 has no text"),
    (lambda d: d["class_prompts"].pop("two"), "no class prompts for \\['two'\\]"),
])
def test_bad_records_are_one_line_errors(change, message):
    data = records()
    change(data)
    with pytest.raises(DataError, match=message) as error:
        resolve_dataset(data, modality="multimodal")
    assert "\n" not in str(error.value)


def test_missing_modalities_can_be_skipped_with_a_count():
    data = records()
    data["x"]["text"][5] = None
    data["x"]["image"][7] = np.nan
    splits = resolve_dataset({**data, "missing": "skip"}, modality="multimodal")
    assert splits.info["skipped_records"] == 2
    assert splits.info["num_train"] + splits.info["num_test"] == 78


def test_records_files_read_other_rooms_files(tmp_path):
    from PIL import Image

    rows = []
    (tmp_path / "images").mkdir()
    data = records(24)
    for index, (image, text) in enumerate(zip(data["x"]["image"], data["x"]["text"])):
        Image.fromarray((image[0] * 255).astype(np.uint8)).save(tmp_path / f"images/{index}.png")
        rows.append({"image": f"images/{index}.png", "text": text,
                     "label": int(data["y"][index])})
    (tmp_path / "records.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    with (tmp_path / "records.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["image", "text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    for name in ("records.jsonl", "records.csv"):
        splits = resolve_dataset(str(tmp_path / name), modality="multimodal")
        assert splits.train.parts["image"].x.shape[1:] == (1, 8, 8)
        assert len(splits.train) + len(splits.test) == 24
    rows[2]["image"] = "images/none.png"
    (tmp_path / "bad.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    with pytest.raises(DataError, match="none.png does not exist"):
        resolve_dataset(str(tmp_path / "bad.jsonl"), modality="multimodal")


def test_methods_refuse_the_wrong_number_of_modalities():
    _, encoder = built()
    with pytest.raises(ValueError, match="exactly 2 modalities"):
        METHODS.build("clip", encoder=encoder, modalities=["image"])
    with pytest.raises(TypeError, match="multimodal encoder"):
        METHODS.build("clip", encoder=ENCODERS.build("small_cnn", in_channels=1))


@pytest.mark.usefixtures("no_report")
def test_clip_trains_exports_and_embeds_records(tmp_path):
    recipe = recipe_from_dict({
        "data": {"modality": "multimodal"},
        "views": {"name": "paired_views"},
        "encoder": {"name": "multimodal_encoder",
                    "kwargs": {"embed_dim": 8, "encoders": ENCODERS_SPEC}},
        "method": {"name": "clip"},
        "train": {"epochs": 1, "batch_size": 16, "accelerator": "cpu", "log_every_steps": 1},
        "eval": {"labels_per_class": [], "protocols": ["knn"], "raw_baseline": False},
    })
    result = contrastlearn.pretrain(recipe, dataset=records(), out=tmp_path / "run",
                                    progress=False)
    protocols = {r.protocol for r in result.results}
    assert {"knn", "zero_shot", "image_to_text_retrieval", "text_to_image_retrieval",
            "modality_gap", "linear_probe", "language_only_probe"} <= protocols
    encoder = contrastlearn.load_encoder(tmp_path / "run")
    assert isinstance(encoder, MultimodalEncoder) and encoder.names == ["image", "text"]
    data = records(3)
    embedded = contrastlearn.embed(tmp_path / "run", data["x"])
    assert embedded.shape == (3, 16)
    from PIL import Image

    lines = []
    for index, (image, text) in enumerate(zip(data["x"]["image"], data["x"]["text"])):
        Image.fromarray((image[0] * 255).astype(np.uint8)).save(tmp_path / f"{index}.png")
        lines.append(json.dumps({"image": f"{index}.png", "text": text}))
    (tmp_path / "new.jsonl").write_text("\n".join(lines))
    assert main(["embed", str(tmp_path / "run"), "--input", str(tmp_path / "new.jsonl"),
                 "--output", str(tmp_path / "embedded.npy")]) == 0
    from_file = np.load(tmp_path / "embedded.npy")
    pixels = (data["x"]["image"] * 255).astype(np.uint8).astype(np.float32)  # as the files hold
    in_memory = contrastlearn.embed(tmp_path / "run", {"image": pixels, "text": data["x"]["text"]})
    assert from_file.shape == (3, 16)
    assert np.allclose(from_file, in_memory.numpy(), atol=1e-5)
    # fine-tuning starts from the run's weights (clip-gap's encoder.kwargs.init_from)
    splits = resolve_dataset(records(), modality="multimodal")
    factory = ENCODERS.get("multimodal_encoder")
    kwargs = {"encoders": ENCODERS_SPEC, "embed_dim": 8, "init_from": str(tmp_path / "run")}
    started = factory(**filled_encoder_kwargs(factory, kwargs, splits))
    for key, value in encoder.state_dict().items():
        assert torch.equal(started.state_dict()[key], value), key
    with pytest.raises(DataError, match="init_from"):
        factory(**filled_encoder_kwargs(factory, {**kwargs, "init_from": str(tmp_path)}, splits))


def test_items_can_be_single_records_when_a_text_names_many_things():
    by_text = resolve_dataset(records(), modality="multimodal").train.ids
    by_record = resolve_dataset({**records(), "items": "record"}, modality="multimodal").train
    assert len(set(by_text.tolist())) < len(by_text)
    assert torch.equal(by_record.ids, torch.arange(len(by_record)))
    with pytest.raises(DataError, match="data.options.items"):
        resolve_dataset({**records(), "items": "caption"}, modality="multimodal")
