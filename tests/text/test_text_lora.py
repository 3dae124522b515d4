"""LoRA on a Hugging Face text encoder (`hf_text_encoder(lora=...)`): the adapted encoder embeds
as the pretrained one until trained, only the adapters train, and every export (the project's
format, transformers, sentence-transformers) holds merged weights that rebuild a plain encoder
embedding as the trained LoRA one does."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

import contrastlearn
from contrastlearn.config import load_recipe
from contrastlearn.core.lora import LoRALinear, has_lora
from contrastlearn.export import export_encoder, load_encoder
from contrastlearn.modalities.text.encoders import default_text_model, hf_text_encoder
from contrastlearn.modalities.text.export import save_pretrained

SENTENCES = ["A man is playing a guitar.", "Hello world",
             "Colorless green ideas sleep furiously while the committee debates."]
LORA = {"rank": 2, "alpha": 4, "targets": ["query", "value"]}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> str:
    """A randomly initialised 2-layer BERT with the MiniLM tokenizer."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=128)
    BertModel(config).save_pretrained(str(folder))
    shutil.copy(f"{default_text_model()}/tokenizer.json", folder / "tokenizer.json")
    return str(folder)


def embed(encoder: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return encoder.eval()(encoder.tokenizer(SENTENCES))


def trained(encoder: torch.nn.Module) -> torch.nn.Module:
    """`encoder` with its adapters moved away from B = 0, as training would."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in encoder.modules():
            if isinstance(layer, LoRALinear):
                layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=generator))
    return encoder


def test_adapted_encoder_starts_as_the_pretrained_one_and_trains_adapters_only(tiny_folder):
    encoder = hf_text_encoder(tiny_folder, lora=LORA)
    assert encoder.lora_layers == [f"encoder.layer.{i}.attention.self.{name}"
                                   for i in (0, 1) for name in ("query", "value")]
    trainable = [name for name, p in encoder.named_parameters() if p.requires_grad]
    assert len(trainable) == 8 and all(name.endswith(("lora_A", "lora_B")) for name in trainable)
    assert torch.equal(embed(encoder), embed(hf_text_encoder(tiny_folder)))
    assert not torch.allclose(embed(trained(encoder)), embed(hf_text_encoder(tiny_folder)))
    defaults = hf_text_encoder(tiny_folder, lora={})
    assert defaults.lora == {"rank": 8, "alpha": 16.0, "targets": ["query", "value"],
                             "dropout": 0.0}


def test_the_export_holds_merged_weights_and_rebuilds_a_plain_encoder(tiny_folder, tmp_path):
    encoder = trained(hf_text_encoder(tiny_folder, max_length=16, lora=LORA))
    expected = embed(encoder)
    export_encoder(encoder, tmp_path / "export")
    config = json.loads((tmp_path / "export" / "config.json").read_text())
    assert "lora" not in config["kwargs"]
    weights = load_file(str(tmp_path / "export" / "model.safetensors"))
    assert set(weights) == set(hf_text_encoder(tiny_folder).state_dict())
    loaded = load_encoder(tmp_path / "export")
    assert not has_lora(loaded) and loaded.lora is None
    torch.testing.assert_close(embed(loaded), expected, rtol=1e-5, atol=1e-5)
    assert has_lora(encoder) and torch.equal(embed(encoder), expected)  # not merged in place
    save_pretrained(encoder, tmp_path / "transformers")
    plain = hf_text_encoder(str(tmp_path / "transformers"), max_length=16)
    torch.testing.assert_close(embed(plain), expected, rtol=1e-5, atol=1e-5)


def test_a_lora_run_trains_adapters_only_and_exports_what_it_trained(tiny_folder, tmp_path,
                                                                     monkeypatch):
    import contrastlearn.api as api

    for slow_picture in ("write_report", "_write_preview"):  # covered by other tests
        monkeypatch.setattr(api, slow_picture, lambda *args, **kwargs: None)
    texts = [f"{animal} {verb} the {place}" for animal in ("cat", "dog", "bird", "cow")
             for verb in ("sees", "leaves") for place in ("barn", "field", "house")]
    overrides = {"encoder.kwargs": {"model": tiny_folder, "max_length": 12, "lora": LORA},
                 "train.steps": 2, "train.batch_size": 8, "train.lr": 0.05,
                 "train.diagnostics": False}
    run = contrastlearn.pretrain("simcse-lora", dataset=texts, out=tmp_path / "run",
                                 overrides=overrides, progress=False, evaluate_after=False)
    start = hf_text_encoder(tiny_folder).state_dict()
    state = run.encoder.state_dict()
    for name, value in start.items():  # every pretrained weight is where it was
        assert torch.equal(state[name.replace("query.", "query.base.")
                                 .replace("value.", "value.base.")], value), name
    assert all(torch.count_nonzero(layer.lora_B) > 0 for layer in run.encoder.modules()
               if isinstance(layer, LoRALinear))
    torch.testing.assert_close(embed(load_encoder(tmp_path / "run")), embed(run.encoder),
                               rtol=1e-5, atol=1e-5)


def test_bad_lora_settings_are_refused_with_the_fix(tiny_folder):
    with pytest.raises(ValueError, match=r"lora has unknown keys \['r'\]; use \['rank', "):
        hf_text_encoder(tiny_folder, lora={"r": 4})
    with pytest.raises(ValueError, match=r"targets \['q_proj'\] match no nn.Linear of "
                                         r"BertModel; .*encoder.layer.0.attention.self.query"):
        hf_text_encoder(tiny_folder, lora={"targets": ["q_proj"]})
    with pytest.raises(ValueError, match="rank must be an integer >= 1"):
        hf_text_encoder(tiny_folder, lora={"rank": 0})
    with pytest.raises(ValueError, match="lora must be a mapping"):
        hf_text_encoder(tiny_folder, lora=8)
    with pytest.raises(ValueError, match="lora.targets must be a list"):
        hf_text_encoder(tiny_folder, lora={"targets": 3})
    assert hf_text_encoder(tiny_folder, lora={"targets": "query"}).lora_layers == [
        "encoder.layer.0.attention.self.query", "encoder.layer.1.attention.self.query"]


def test_the_lora_and_guard_recipes_change_only_what_they_name():
    base = load_recipe("simcse").model_dump()
    lora = load_recipe("simcse-lora").model_dump()
    guard = load_recipe("simcse-guard").model_dump()
    for recipe in (lora, guard):
        assert recipe["data"] == base["data"] and recipe["views"] == base["views"]
        assert recipe["method"] == base["method"] and recipe["eval"] == base["eval"]
    assert lora["encoder"]["kwargs"] == {**base["encoder"]["kwargs"], "lora": {
        "rank": 8, "alpha": 16, "targets": ["query", "value"]}}
    assert {**lora["train"], "lr": base["train"]["lr"]} == base["train"]
    assert guard["encoder"] == base["encoder"]
    assert guard["train"]["forgetting_guard"] == {"name": "l2_init", "kwargs": {"weight": 0.03}}
    assert {**guard["train"], "forgetting_guard": None} == base["train"]
