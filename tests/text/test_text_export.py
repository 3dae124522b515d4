"""Text encoder export: sentence-transformers and transformers folders that load with those
libraries and give our embeddings, and the project format rebuilt from its folder alone."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from contrastlearn.export import (
    export_encoder,
    load_encoder,
    read_encoder_config,
    resolve_asset_paths,
)
from contrastlearn.modalities.text import export as text_export
from contrastlearn.modalities.text.encoders import (
    HFTextEncoder,
    default_text_model,
    hf_text_encoder,
    text_transformer_encoder,
)
from contrastlearn.modalities.text.export import (
    export_sentence_transformers,
    save_pretrained,
)
from contrastlearn.modalities.text.scratch import scratch_text_encoder, train_wordpiece_tokenizer
from contrastlearn.modalities.text.tokenizer import TextTokenizer

SENTENCES = [
    "A man is playing a guitar.",
    "Hello world",
    "Colorless green ideas sleep furiously while the committee debates the budget.",
]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """No hub access, and the token cache inside tmp_path."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("CONTRASTLEARN_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def minilm() -> HFTextEncoder:
    return hf_text_encoder(max_length=64).eval()


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


def ours(encoder: torch.nn.Module, texts: list[str]) -> torch.Tensor:
    with torch.no_grad():
        return encoder(encoder.tokenizer(texts))


def sentence_transformers_embeddings(folder, texts: list[str]) -> torch.Tensor:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    return model.encode(texts, convert_to_tensor=True, batch_size=2)


def test_sentence_transformers_round_trip_mean(minilm, tmp_path):
    folder = export_sentence_transformers(minilm, tmp_path / "st")
    expected = ours(minilm, SENTENCES)
    torch.testing.assert_close(sentence_transformers_embeddings(folder, SENTENCES), expected,
                               atol=1e-5, rtol=0)
    modules = json.loads((folder / "modules.json").read_text())
    assert [module["path"] for module in modules] == ["", "1_Pooling"]
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    assert pooling["word_embedding_dimension"] == 384
    assert json.loads((folder / "sentence_bert_config.json").read_text()) == \
        {"max_seq_length": 64, "do_lower_case": False}
    assert "prompts" in json.loads((folder / "config_sentence_transformers.json").read_text())
    assert not list(tmp_path.glob(".st.*"))


def test_sentence_transformers_round_trip_cls_and_truncation(tiny_folder, tmp_path):
    encoder = hf_text_encoder(tiny_folder, pooling="cls", max_length=8).eval()
    folder = export_sentence_transformers(encoder, tmp_path / "st")
    assert encoder.tokenizer(SENTENCES).shape[1] == 8
    torch.testing.assert_close(sentence_transformers_embeddings(folder, SENTENCES),
                               ours(encoder, SENTENCES), atol=1e-5, rtol=0)
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_cls_token"] and not pooling["pooling_mode_mean_tokens"]


def test_export_refuses_to_overwrite_and_stays_atomic(tiny_folder, tmp_path, monkeypatch):
    encoder = hf_text_encoder(tiny_folder)
    target = tmp_path / "st"
    target.mkdir()
    export_sentence_transformers(encoder, target)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_sentence_transformers(encoder, target)
    (target / "stale.txt").write_text("old")
    export_sentence_transformers(encoder, target, overwrite=True)
    assert not (target / "stale.txt").exists() and (target / "modules.json").is_file()

    def broken():
        raise RuntimeError("disk full")

    monkeypatch.setattr(text_export, "_versions", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export_sentence_transformers(encoder, tmp_path / "fresh")
    with pytest.raises(RuntimeError, match="disk full"):
        export_sentence_transformers(encoder, target, overwrite=True)
    assert not (tmp_path / "fresh").exists()
    assert (target / "modules.json").is_file()
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".")]
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a folder"):
        save_pretrained(encoder, tmp_path / "file")


def test_save_pretrained_loads_with_transformers(tiny_folder, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    encoder = hf_text_encoder(tiny_folder).eval()
    folder = save_pretrained(encoder, tmp_path / "hf")
    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], encoder.tokenizer(SENTENCES))
    with torch.no_grad():
        states = model(**batch).last_hidden_state
        expected = encoder.model(**batch).last_hidden_state
    torch.testing.assert_close(states, expected, atol=1e-6, rtol=0)


def test_from_scratch_encoder_has_no_hugging_face_export(tmp_path):
    encoder = text_transformer_encoder(vocab_size=30, dim=8, heads=2)
    for export in (export_sentence_transformers, save_pretrained):
        with pytest.raises(TypeError, match="only exports Hugging Face encoders"):
            export(encoder, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="no tokenizer to export"):
        export_encoder(encoder, tmp_path / "own")


def test_hf_encoder_rebuilds_from_its_export_alone(tiny_folder, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(tiny_folder, source)
    encoder = hf_text_encoder(str(source), pooling="cls", max_length=32, dropout=0.2).eval()
    with torch.no_grad():
        encoder.model.embeddings.word_embeddings.weight.mul_(1.5)
    expected = ours(encoder, SENTENCES)
    export_encoder(encoder, tmp_path / "run" / "encoder")
    shutil.rmtree(source)
    config = read_encoder_config(tmp_path / "run")
    assert config["encoder"] == "hf_text_encoder" and config["asset_paths"] == ["model"]
    assert config["kwargs"]["pretrained"] is False
    rebuilt = load_encoder(tmp_path / "run")
    assert not rebuilt.training and rebuilt.pooling == "cls" and rebuilt.max_length == 32
    assert rebuilt.model.config.hidden_dropout_prob == 0.2
    torch.testing.assert_close(ours(rebuilt, SENTENCES), expected, atol=1e-6, rtol=0)


def test_scratch_encoder_rebuilds_without_its_corpus(tmp_path):
    generator = np.random.default_rng(0)
    words = ["red", "green", "blue", "cat", "dog", "runs", "sleeps", "fast", "slowly", "the"]
    corpus = [" ".join(generator.choice(words, size=6)) for _ in range(200)]
    torch.manual_seed(0)
    encoder = scratch_text_encoder(corpus, vocab_size=60, dim=16, depth=1, heads=2,
                                   max_length=16, pooling="mean").eval()
    texts = ["the red cat runs", "a blue dog sleeps slowly"]
    expected = ours(encoder, texts)
    folder = export_encoder(encoder, tmp_path / "scratch")
    config = read_encoder_config(folder)
    assert config["encoder"] == "text_transformer" and "corpus" not in config["kwargs"]
    assert (folder / "text" / "tokenizer.json").is_file()
    rebuilt = load_encoder(folder)
    assert torch.equal(rebuilt.tokenizer(texts), encoder.tokenizer(texts))
    torch.testing.assert_close(ours(rebuilt, texts), expected, atol=1e-6, rtol=0)


def test_resolve_asset_paths_joins_only_the_listed_kwargs(tmp_path):
    config = {"kwargs": {"model": "text", "pooling": "mean"}, "asset_paths": ["model"]}
    assert resolve_asset_paths(config, tmp_path) == {"model": str(tmp_path / "text"),
                                                      "pooling": "mean"}
    assert resolve_asset_paths({"kwargs": {"model": "x"}}, tmp_path) == {"model": "x"}


def test_exported_tokenizer_json_is_a_plain_tokenizers_file(tmp_path):
    tokenizer = train_wordpiece_tokenizer(["one two three", "two three four"] * 5,
                                          vocab_size=40)
    encoder = text_transformer_encoder(vocab_size=tokenizer.get_vocab_size(), dim=8, heads=2)
    encoder.set_tokenizer(TextTokenizer(tokenizer))
    folder = export_encoder(encoder, tmp_path / "own")
    reread = Tokenizer.from_file(str(folder / "text" / "tokenizer.json"))
    assert reread.encode("two three").ids == tokenizer.encode("two three").ids
