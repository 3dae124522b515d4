"""Text tokenizer, encoders and from-scratch models: the token contract, pooling, cutoff,
padding invariance, the on-disk token cache and clear errors."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from contrastlearn.core.registry import ENCODERS
from contrastlearn.modalities.text.encoders import (
    HFTextEncoder,
    TextTransformerEncoder,
    default_text_model,
    hf_text_encoder,
    text_transformer_encoder,
)
from contrastlearn.modalities.text.scratch import (
    SPECIAL_TOKENS,
    save_tokenizer,
    scratch_text_encoder,
    train_wordpiece_tokenizer,
)
from contrastlearn.modalities.text.tokenizer import TextTokenizer
from contrastlearn.modalities.text.tokens import CUT_ID, PAD_ID, TokenBatch, lengths

SENTENCES = [
    "A man is playing a guitar.",
    "Hello world",
    "Colorless green ideas sleep furiously while the committee debates the budget.",
]
WORDS = ["the", "cat", "dog", "sat", "ran", "on", "a", "mat", "under", "tree", "quick", "brown",
         "fox", "jumps", "over", "lazy", "river", "house", "garden", "bird", "sings", "morning",
         "evening", "light", "dark"]


def corpus(count: int = 300, seed: int = 0) -> list[str]:
    generator = np.random.default_rng(seed)
    return [" ".join(generator.choice(WORDS, size=generator.integers(3, 12)))
            for _ in range(count)]


@pytest.fixture(autouse=True)
def token_cache(tmp_path, monkeypatch):
    """Keep the token cache of every test inside its tmp_path."""
    monkeypatch.setenv("CONTRASTLEARN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "tokens"


@pytest.fixture(scope="module")
def minilm() -> HFTextEncoder:
    return hf_text_encoder().eval()


def word_level(pad_id: int, post_processor: bool = True) -> Tokenizer:
    """A tiny whitespace tokenizer whose [PAD] sits at `pad_id`."""
    names = ["[UNK]", "[CLS]", "[SEP]", "hello", "world", "again"]
    names.insert(pad_id, "[PAD]")
    tokenizer = Tokenizer(models.WordLevel({name: i for i, name in enumerate(names)},
                                           unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.add_special_tokens(["[UNK]", "[CLS]", "[SEP]", "[PAD]"])
    if post_processor:
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            special_tokens=[("[CLS]", names.index("[CLS]")), ("[SEP]", names.index("[SEP]"))])
    return tokenizer


def tiny_bert_folder(folder, tokenizer: Tokenizer, **config) -> str:
    """A randomly initialised 2-layer BERT saved with `tokenizer` as tokenizer.json."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    settings = {"vocab_size": tokenizer.get_vocab_size(), "hidden_size": 32,
                "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
                "max_position_embeddings": 128, **config}
    BertModel(BertConfig(**settings)).save_pretrained(str(folder))
    save_tokenizer(tokenizer, folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> str:
    """A tiny BERT reading the MiniLM vocabulary, pad id 0."""
    source = Tokenizer.from_file(f"{default_text_model()}/tokenizer.json")
    return tiny_bert_folder(tmp_path_factory.mktemp("tiny"), source)


def minilm_reference(encoder: HFTextEncoder, ids: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pooled states of the transformers model called the plain way (input_ids)."""
    mask = (ids != 0).long()
    with torch.no_grad():
        states = encoder.model(input_ids=ids, attention_mask=mask).last_hidden_state
    if pooling == "cls":
        return states[:, 0]
    return (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)


# ---------------------------------------------------------------- tokenizer


def test_tokenizer_matches_transformers_and_frames_rows(minilm):
    from transformers import AutoTokenizer

    tokenizer = minilm.tokenizer
    ids = tokenizer(SENTENCES)
    reference = AutoTokenizer.from_pretrained(default_text_model())(SENTENCES)["input_ids"]
    assert ids.dtype == torch.int64
    assert ids.shape == (3, max(map(len, reference)))
    for row, expected in zip(ids, reference):
        assert row[: len(expected)].tolist() == expected
        assert (row[len(expected):] == PAD_ID).all()
        assert row[0] == tokenizer.cls_id and row[len(expected) - 1] == tokenizer.sep_id
    assert tokenizer.decode(ids) == [text.lower() for text in SENTENCES]
    assert {tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id, PAD_ID} <= \
        tokenizer.special_ids
    assert tokenizer.vocab_size == 30522 and tokenizer.get_vocab()["[PAD]"] == PAD_ID


def test_truncation_counts_and_keeps_the_frame(minilm, caplog):
    tokenizer = TextTokenizer(minilm.model_path, max_length=6)
    with caplog.at_level(logging.WARNING):
        ids = tokenizer(SENTENCES)
    assert ids.shape == (3, 6)
    assert tokenizer.last_truncated == 2
    assert "2 of 3 texts" in caplog.text and "max_length=6" in caplog.text
    assert lengths(ids).tolist() == [6, 4, 6]
    assert (ids[:, 0] == tokenizer.cls_id).all()
    assert ids[0, 5] == ids[2, 5] == tokenizer.sep_id
    tokenizer(SENTENCES[1:2])
    assert tokenizer.last_truncated == 0


def test_token_cache_hit_skips_tokenization(minilm, token_cache, monkeypatch):
    tokenizer = TextTokenizer(minilm.model_path, max_length=6, cache_min_texts=1)
    first = tokenizer(SENTENCES)
    files = list(token_cache.glob("*.npz"))
    assert len(files) == 1

    def fail(texts):
        raise AssertionError("tokenized again despite the cache")

    monkeypatch.setattr(tokenizer, "_encode", fail)
    tokenizer.last_truncated = -1
    again = tokenizer(SENTENCES)
    assert torch.equal(first, again) and again.dtype == torch.int64
    assert tokenizer.last_truncated == 2
    with pytest.raises(AssertionError, match="tokenized again"):
        tokenizer(SENTENCES[:2])


def test_cache_key_covers_texts_and_max_length(minilm, token_cache):
    for max_length, texts in ((6, SENTENCES), (7, SENTENCES), (6, SENTENCES[::-1])):
        TextTokenizer(minilm.model_path, max_length=max_length, cache_min_texts=1)(texts)
    assert len(list(token_cache.glob("*.npz"))) == 3


def test_corrupt_cache_is_ignored_and_rewritten(minilm, token_cache, caplog):
    tokenizer = TextTokenizer(minilm.model_path, cache_min_texts=1)
    expected = tokenizer(SENTENCES)
    (path,) = token_cache.glob("*.npz")
    path.write_bytes(b"not a numpy archive")
    with caplog.at_level(logging.WARNING):
        assert torch.equal(tokenizer(SENTENCES), expected)
    assert "unreadable token cache" in caplog.text
    with np.load(path, allow_pickle=False) as stored:
        assert np.array_equal(stored["ids"], expected.numpy())


def test_small_lists_and_disabled_cache_write_nothing(minilm, token_cache):
    TextTokenizer(minilm.model_path)(SENTENCES)
    TextTokenizer(minilm.model_path, cache=False, cache_min_texts=1)(SENTENCES)
    assert not token_cache.exists() or not list(token_cache.iterdir())


def test_pad_id_not_zero_is_swapped_consistently():
    native = word_level(pad_id=3)
    tokenizer = TextTokenizer(native)
    ids = tokenizer(["hello world", "world"])
    # native ids: [UNK]=0 [CLS]=1 [SEP]=2 [PAD]=3 hello=4 world=5; ours swap 3 <-> 0
    assert ids.tolist() == [[1, 4, 5, 2], [1, 5, 2, 0]]
    assert tokenizer(["hello nobody"]).tolist() == [[1, 4, 3, 2]]
    vocab = tokenizer.get_vocab()
    assert vocab["[PAD]"] == 0 and vocab["[UNK]"] == 3 and tokenizer.unk_id == 3
    assert tokenizer.to_model_ids(torch.tensor([[1, 4, 3, 2, 0, CUT_ID]])).tolist() == \
        [[1, 4, 0, 2, 3, CUT_ID]]
    assert tokenizer.decode(tokenizer(["hello nobody"])[0], skip_special_tokens=False) == \
        "[CLS] hello [UNK] [SEP]"


def test_pad_token_written_in_a_text_becomes_unknown(minilm):
    ids = minilm.tokenizer(["hello [PAD] world", "hi"])
    assert ids[0].tolist() == [minilm.tokenizer.cls_id, 7592, minilm.tokenizer.unk_id, 2088,
                               minilm.tokenizer.sep_id]
    assert ids[1, 3:].tolist() == [PAD_ID, PAD_ID]


def test_tokenizer_errors():
    with pytest.raises(ValueError, match=r"\[CLS\] \.\.\. \[SEP\]"):
        TextTokenizer(word_level(pad_id=0, post_processor=False))
    with pytest.raises(FileNotFoundError, match="no tokenizer at"):
        TextTokenizer("/nonexistent/tokenizer")
    with pytest.raises(TypeError, match="item 1 is int"):
        TextTokenizer(word_level(pad_id=0))(["hello", 3])
    with pytest.raises(ValueError, match="max_length must be >= 2"):
        TextTokenizer(word_level(pad_id=0), max_length=1)
    assert TextTokenizer(word_level(pad_id=0))([]).shape == (0, 0)


def test_decode_shows_cut_tokens(minilm):
    ids = minilm.tokenizer(["hello big world"])
    ids[0, 2] = CUT_ID
    assert minilm.tokenizer.decode(ids[0]) == "hello [CUT] world"


# ---------------------------------------------------------------- hf_text_encoder


def test_hf_encoder_shapes_determinism_and_mean_pooling(minilm):
    ids = minilm.tokenizer(SENTENCES)
    with torch.no_grad():
        first, second = minilm(ids), minilm(ids)
    assert first.shape == (3, 384) and minilm.out_dim == 384
    assert torch.equal(first, second)
    torch.testing.assert_close(first, minilm_reference(minilm, ids, "mean"), atol=1e-5,
                               rtol=0)
    assert minilm.model_path == default_text_model()
    assert all(not p.requires_grad for p in minilm.model.pooler.parameters())
    assert set(minilm.state_dict()) == {f"model.{key}" for key in minilm.model.state_dict()}


def test_hf_encoder_cls_pooling(tiny_folder):
    encoder = hf_text_encoder(tiny_folder, pooling="cls").eval()
    mean = hf_text_encoder(tiny_folder, pooling="mean").eval()
    ids = encoder.tokenizer(SENTENCES)
    with torch.no_grad():
        cls_out, mean_out = encoder(ids), mean(ids)
    torch.testing.assert_close(cls_out, minilm_reference(encoder, ids, "cls"), atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(mean_out, minilm_reference(mean, ids, "mean"), atol=1e-5,
                               rtol=0)
    assert not torch.allclose(cls_out, mean_out, atol=1e-3)


def test_hf_encoder_padding_invariance(minilm):
    batch = minilm.tokenizer(SENTENCES)
    with torch.no_grad():
        together = minilm(batch)
        alone = minilm(minilm.tokenizer(SENTENCES[1:2]))
        widened = minilm(torch.nn.functional.pad(minilm.tokenizer(SENTENCES[1:2]), (0, 7)))
    torch.testing.assert_close(together[1:2], alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(widened, alone, atol=1e-5, rtol=0)


def test_hf_encoder_cut_token_zeroes_its_input_embedding(minilm):
    ids = minilm.tokenizer(SENTENCES)
    cut = ids.clone()
    cut[0, 2] = CUT_ID
    with torch.no_grad():
        plain, with_cut = minilm(ids), minilm(cut)
        embeds = minilm.model.get_input_embeddings()(ids[:1]).clone()
        embeds[0, 2] = 0.0
        mask = (ids[:1] != 0).long()
        states = minilm.model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    reference = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    torch.testing.assert_close(with_cut[:1], reference, atol=1e-5, rtol=0)
    assert not torch.allclose(with_cut[0], plain[0], atol=1e-4)
    torch.testing.assert_close(with_cut[1:], plain[1:], atol=1e-5, rtol=0)


def test_hf_encoder_feature_cutoff_is_reproducible_and_zeroes_dims(minilm):
    ids = minilm.tokenizer(SENTENCES)
    captured = []

    def capture(module, args, kwargs):
        captured.append(kwargs["inputs_embeds"])

    handle = minilm.model.embeddings.register_forward_pre_hook(capture, with_kwargs=True)
    try:
        with torch.no_grad():
            plain = minilm(ids)
            first = minilm(TokenBatch(ids, feature_cutoff=0.3, feature_seed=5))
            second = minilm(TokenBatch(ids, feature_cutoff=0.3, feature_seed=5))
            other = minilm(TokenBatch(ids, feature_cutoff=0.3, feature_seed=6))
            untouched = minilm(TokenBatch(ids, feature_cutoff=0.0, feature_seed=5))
    finally:
        handle.remove()
    assert torch.equal(first, second)
    assert not torch.allclose(first, other, atol=1e-4)
    assert not torch.allclose(first, plain, atol=1e-4)
    torch.testing.assert_close(untouched, plain, atol=1e-6, rtol=0)
    keep = TokenBatch(ids, feature_cutoff=0.3, feature_seed=5).feature_keep(384)
    cut_embeds = captured[1]
    assert (cut_embeds * (1 - keep) == 0).all()
    assert (cut_embeds != 0).float().mean() > 0.6
    assert 0.55 < keep.mean() < 0.85


def test_hf_encoder_dropout_override_and_train_mode(tiny_folder):
    ids = TextTokenizer(tiny_folder)(SENTENCES)
    noisy = hf_text_encoder(tiny_folder, dropout=0.3).train()
    quiet = hf_text_encoder(tiny_folder, dropout=0.0).train()
    assert noisy.model.config.hidden_dropout_prob == 0.3
    assert noisy.model.config.attention_probs_dropout_prob == 0.3
    assert not torch.allclose(noisy(ids), noisy(ids))
    torch.testing.assert_close(quiet(ids), quiet(ids))
    noisy.eval()
    assert torch.equal(noisy(ids), noisy(ids))


def test_hf_encoder_reads_native_ids_of_a_tokenizer_with_pad_not_zero(tmp_path):
    folder = tiny_bert_folder(tmp_path / "padded", word_level(pad_id=3), pad_token_id=3)
    encoder = hf_text_encoder(folder).eval()
    ids = encoder.tokenizer(["hello world again", "world", "hello nobody"])
    assert ids[2, 2] == encoder.tokenizer.unk_id == 3
    native = encoder.tokenizer.to_model_ids(ids)
    mask = (ids != PAD_ID).long()
    with torch.no_grad():
        states = encoder.model(input_ids=native, attention_mask=mask).last_hidden_state
        reference = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        torch.testing.assert_close(encoder(ids), reference, atol=1e-5, rtol=0)


def test_hf_encoder_folder_errors(tmp_path, tiny_folder):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hf_text_encoder(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        hf_text_encoder(str(tmp_path / "empty"))
    for model_type, kind in (("gpt2", "decoder-only"), ("t5", "encoder-decoder")):
        folder = tmp_path / model_type
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
        with pytest.raises(ValueError, match=f"model_type '{model_type}', an? {kind}"):
            hf_text_encoder(str(folder))
    weightless = tmp_path / "weightless"
    weightless.mkdir()
    shutil.copy(f"{tiny_folder}/config.json", weightless / "config.json")
    with pytest.raises(ValueError, match="no weights"):
        hf_text_encoder(str(weightless))
    with pytest.raises(ValueError, match="pooling must be one of"):
        hf_text_encoder(tiny_folder, pooling="max")
    with pytest.raises(ValueError, match="max_length must be in"):
        hf_text_encoder(tiny_folder, max_length=129)
    with pytest.raises(ValueError, match="dropout must be in"):
        hf_text_encoder(tiny_folder, dropout=1.5)


def test_hf_encoder_input_errors(tiny_folder):
    encoder = hf_text_encoder(tiny_folder, max_length=8).eval()
    with pytest.raises(ValueError, match="int64 token ids"):
        encoder(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="shape \\(batch, length\\)"):
        encoder(torch.ones(2, 2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="max_length=8"):
        encoder(torch.ones(2, 9, dtype=torch.int64))
    with pytest.raises(ValueError, match="outside"):
        encoder(torch.tensor([[101, 30522, 102]]))


def test_registry_builds_text_encoders(tiny_folder):
    assert {"hf_text_encoder", "text_transformer", "scratch_text_encoder"} <= set(ENCODERS)
    built = ENCODERS.build("hf_text_encoder", model=tiny_folder, pooling="cls")
    assert isinstance(built, HFTextEncoder) and built.out_dim == 32
    assert isinstance(ENCODERS.build("text_transformer", vocab_size=50, dim=16, heads=2),
                      TextTransformerEncoder)


# ---------------------------------------------------------------- text_transformer


@pytest.fixture
def small_transformer() -> TextTransformerEncoder:
    torch.manual_seed(0)
    return text_transformer_encoder(vocab_size=40, dim=16, depth=2, heads=2, max_length=12,
                                    dropout=0.1).eval()


def random_ids(count: int, width: int, vocab: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (count, width), generator=generator)
    row_lengths = torch.randint(3, width + 1, (count,), generator=generator)
    row_lengths[0] = width
    positions = torch.arange(width)[None, :]
    ids[:, 0] = 2
    ids[torch.arange(count), row_lengths - 1] = 3
    return ids.masked_fill(positions >= row_lengths[:, None], PAD_ID)


def test_text_transformer_shapes_determinism_dropout(small_transformer):
    ids = random_ids(4, 10, 40)
    with torch.no_grad():
        assert small_transformer(ids).shape == (4, 16) and small_transformer.out_dim == 16
        assert torch.equal(small_transformer(ids), small_transformer(ids))
    small_transformer.train()
    assert not torch.allclose(small_transformer(ids), small_transformer(ids))


def test_text_transformer_padding_invariance_and_cut(small_transformer):
    ids = random_ids(4, 10, 40)
    row = ids[2:3, : int(lengths(ids[2:3]))]
    with torch.no_grad():
        together, alone = small_transformer(ids), small_transformer(row)
        cut = ids.clone()
        cut[2, 1] = CUT_ID
        with_cut = small_transformer(cut)
    torch.testing.assert_close(together[2:3], alone, atol=1e-5, rtol=0)
    assert not torch.allclose(with_cut[2], together[2], atol=1e-4)
    keep = torch.arange(4) != 2
    torch.testing.assert_close(with_cut[keep], together[keep], atol=1e-5, rtol=0)


def test_text_transformer_feature_cutoff_and_pooling(small_transformer):
    ids = random_ids(4, 10, 40)
    with torch.no_grad():
        plain = small_transformer(ids)
        first = small_transformer(TokenBatch(ids, 0.4, 1))
        second = small_transformer(TokenBatch(ids, 0.4, 1))
        small_transformer.pooling = "cls"
        cls_out = small_transformer(ids)
    assert torch.equal(first, second) and not torch.allclose(first, plain, atol=1e-4)
    assert not torch.allclose(cls_out, plain, atol=1e-4)
    states = {}
    handle = small_transformer.norm.register_forward_hook(
        lambda module, args, output: states.update(out=output))
    try:
        with torch.no_grad():
            small_transformer.pooling = "mean"
            mean_out = small_transformer(ids)
    finally:
        handle.remove()
    mask = (ids != PAD_ID).float()
    reference = (states["out"] * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    torch.testing.assert_close(mean_out, reference, atol=1e-6, rtol=0)
    torch.testing.assert_close(cls_out, states["out"][:, 0], atol=1e-6, rtol=0)


def test_text_transformer_errors(tmp_path):
    with pytest.raises(ValueError, match="divisible by heads"):
        text_transformer_encoder(vocab_size=10, dim=10, heads=3)
    path = save_tokenizer(train_wordpiece_tokenizer(corpus(50), vocab_size=60), tmp_path)
    with pytest.raises(ValueError, match="build it with vocab_size="):
        text_transformer_encoder(vocab_size=10, dim=8, heads=2, tokenizer_path=str(path))
    encoder = text_transformer_encoder(vocab_size=60, dim=8, heads=2, tokenizer_path=str(path))
    assert encoder.tokenizer is not None and encoder.tokenizer.vocab_size <= 60


# ---------------------------------------------------------------- scratch


def test_wordpiece_vocabulary_is_deterministic_and_spells_any_word():
    texts = corpus() + ["sleeping dogs", "barking cats"] * 3
    first = train_wordpiece_tokenizer(texts, vocab_size=150, min_frequency=1)
    second = train_wordpiece_tokenizer(list(texts), vocab_size=150, min_frequency=1)
    assert first.to_str() == second.to_str()
    pieces = first.encode("zzq sleeping").tokens
    assert "[UNK]" not in pieces or "z" not in "".join(texts)
    assert first.encode("sleeping").tokens[1:-1] in (["sleeping"], ["sleep", "##ing"])


def test_wordpiece_tokenizer_specials_frame_and_lowercase():
    texts = corpus()
    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=120)
    assert [tokenizer.token_to_id(token) for token in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tokenizer.get_vocab_size() <= 120
    wrapped = TextTokenizer(tokenizer)
    ids = wrapped(["The QUICK brown fox", "the quick brown fox", "Évening"])
    assert torch.equal(ids[0], ids[1])
    assert ids[0, 0] == 2 and ids[0, int(lengths(ids[:1])) - 1] == 3
    assert wrapped.decode(ids[0]) == "the quick brown fox"
    assert wrapped.decode(ids[2]) == "evening"
    with pytest.raises(ValueError, match="non-empty corpus"):
        train_wordpiece_tokenizer(["", "  "])


def test_scratch_encoder_trains_a_step():
    torch.manual_seed(0)
    texts = corpus(200)
    encoder = scratch_text_encoder(texts, vocab_size=100, dim=16, depth=1, heads=2,
                                   max_length=16, dropout=0.1)
    assert encoder.vocab_size == encoder.tokenizer.vocab_size <= 100
    ids = encoder.tokenizer(texts[:8])
    before = [p.detach().clone() for p in encoder.parameters()]
    optimizer = torch.optim.SGD(encoder.parameters(), lr=0.1)
    first, second = encoder(ids), encoder(ids)
    similarity = torch.nn.functional.normalize(first, dim=-1) @ \
        torch.nn.functional.normalize(second, dim=-1).T
    loss = torch.nn.functional.cross_entropy(similarity / 0.05, torch.arange(8))
    loss.backward()
    assert torch.isfinite(loss)
    assert encoder.token_embedding.weight.grad[ids.unique()].abs().sum() > 0
    optimizer.step()
    assert any(not torch.equal(old, new) for old, new in zip(before, encoder.parameters()))


def test_sif_pooling_is_the_frequency_weighted_mean_with_specials_at_zero():
    torch.manual_seed(0)
    encoder = text_transformer_encoder(vocab_size=12, dim=8, depth=1, heads=2, max_length=8,
                                       dropout=0.0, pooling="sif").eval()
    counts = torch.tensor([0, 0, 50, 50, 0, 1, 2, 3, 4, 5, 100, 1000], dtype=torch.float64)
    encoder.set_token_frequencies(counts, special_ids=[0, 1, 2, 3, 4])
    probability = counts / counts.sum()
    expected_weights = 1e-3 / (1e-3 + probability)
    expected_weights[:5] = 0
    torch.testing.assert_close(encoder.token_weights, expected_weights.float())
    ids = torch.tensor([[2, 5, 11, 7, 3, 0], [2, 10, 6, 3, 0, 0]])
    with torch.no_grad():
        states = encoder.norm(encoder.layers(encoder.token_embedding(ids)
                                             + encoder.position_embedding.weight[:6],
                                             src_key_padding_mask=ids == 0))
        pooled = encoder(ids)
    for row in range(2):
        weights = encoder.token_weights[ids[row]] * (ids[row] != 0)
        reference = (states[row] * weights[:, None]).sum(0) / weights.sum()
        torch.testing.assert_close(pooled[row], reference)
    assert "token_weights" in encoder.state_dict(), "the weights travel with the state dict"


def test_set_token_frequencies_rejects_bad_counts():
    encoder = text_transformer_encoder(vocab_size=6, dim=4, depth=1, heads=1, pooling="sif")
    for counts in (torch.ones(5), torch.tensor([1.0, 2, float("nan"), 1, 1, 1]),
                   torch.tensor([1.0, -2, 1, 1, 1, 1]), torch.zeros(6)):
        with pytest.raises(ValueError, match="set_token_frequencies"):
            encoder.set_token_frequencies(counts)
    with pytest.raises(ValueError, match="pooling"):
        text_transformer_encoder(vocab_size=6, dim=4, depth=1, heads=1, pooling="max")
    with pytest.raises(ValueError, match="embedding_std"):
        text_transformer_encoder(vocab_size=6, dim=4, depth=1, heads=1, embedding_std=0.0)


def test_zero_init_residual_makes_the_untrained_encoder_a_bag_of_token_embeddings():
    torch.manual_seed(0)
    encoder = text_transformer_encoder(vocab_size=30, dim=8, depth=2, heads=2, max_length=10,
                                       dropout=0.0, zero_init_residual=True,
                                       embedding_std=1.0).eval()
    assert float(encoder.token_embedding.weight[5:].detach().std()) > 0.5, "embedding_std=1 is used"
    ids = random_ids(4, 8, 30)
    with torch.no_grad():
        bag = encoder.norm(encoder.token_embedding(ids))
        mask = (ids != PAD_ID).float()[..., None]
        torch.testing.assert_close(encoder(ids), (bag * mask).sum(1) / mask.sum(1))
        # swapping two interior tokens changes nothing: no positions, no context yet
        swapped = ids.clone()
        swapped[0, [1, 2]] = ids[0, [2, 1]]
        torch.testing.assert_close(encoder(swapped)[0], encoder(ids)[0])


def test_scratch_encoder_sif_weights_come_from_the_corpus_and_survive_export(tmp_path):
    from contrastlearn.export import export_encoder, load_encoder

    texts = ["the cat sat", "the dog ran", "the cat ran far", "a bird sang"] * 5
    encoder = scratch_text_encoder(texts, vocab_size=60, dim=8, depth=1, heads=2,
                                   max_length=8, pooling="sif")
    vocab = encoder.tokenizer.get_vocab()
    weights = encoder.token_weights
    assert weights[vocab["the"]] < weights[vocab["cat"]] < weights[vocab["bird"]]
    assert weights[vocab["[CLS]"]] == weights[vocab["[SEP]"]] == 0
    export_encoder(encoder, tmp_path / "encoder", name="scratch_text_encoder",
                   kwargs={"vocab_size": 60, "dim": 8, "depth": 1, "heads": 2,
                           "max_length": 8, "pooling": "sif"})
    loaded = load_encoder(tmp_path / "encoder")
    torch.testing.assert_close(loaded.token_weights, weights)
    ids = encoder.tokenizer(texts[:4])
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(ids), encoder.eval()(ids))
