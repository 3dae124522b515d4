"""AutoTCL's learned views for text (`autotcl_text`): property tests, token weights reaching
both encoders (gradients through a frozen one), and a short SimCSE run with learned views."""

from __future__ import annotations

import math

import pytest
import torch

import contrastlearn
import contrastlearn.api
from contrastlearn.api import build_method
from contrastlearn.config import load_recipe
from contrastlearn.core.registry import VIEW_GENERATORS
from contrastlearn.methods.learned_views import LearnedViews, frozen
from contrastlearn.modalities.text.encoders import TextTransformerEncoder, hf_text_encoder
from contrastlearn.modalities.text.learned_augmentation import TextParametricAugmentation
from contrastlearn.modalities.text.tokens import CUT_ID, TokenBatch, interior_mask
from tests.text.test_text_encoders import tiny_bert_folder, word_level
from tests.text.test_text_pipeline import labelled_csv, tiny_scratch  # noqa: F401

VOCAB = 7  # word_level's [UNK] [CLS] [SEP] hello world again plus [PAD] at 0


def _ids() -> torch.Tensor:
    """Rows framed [CLS]=2 ... [SEP]=3, padded with 0, one already cut token."""
    return torch.tensor([[2, 4, 5, 6, 4, 5, 3],
                         [2, 5, CUT_ID, 4, 3, 0, 0],
                         [2, 6, 3, 0, 0, 0, 0],
                         [2, 4, 4, 5, 6, 3, 0]])


def _generator(**settings) -> TextParametricAugmentation:
    torch.manual_seed(0)
    return TextParametricAugmentation(VOCAB, dim=8, depth=2, **settings)


def _encoder() -> TextTransformerEncoder:
    torch.manual_seed(1)
    return TextTransformerEncoder(VOCAB, dim=8, depth=1, heads=2, max_length=16, dropout=0.0)


def test_views_keep_the_ids_and_weight_only_the_interior_and_are_seeded():
    generator, ids = _generator(), _ids()
    view, made = generator(ids, torch.Generator().manual_seed(5))
    again, _ = generator(ids, torch.Generator().manual_seed(5))
    other, _ = generator(ids, torch.Generator().manual_seed(6))
    assert isinstance(view, TokenBatch) and torch.equal(view.ids, ids)
    weights = view.token_weights
    assert weights.shape == ids.shape and weights.dtype == torch.float32
    assert torch.equal(weights, again.token_weights)
    assert not torch.equal(weights, other.token_weights)
    changeable = interior_mask(ids) & (ids != CUT_ID)
    assert torch.equal(made["valid"], changeable)
    assert bool((weights[~changeable] == 1).all())
    assert bool(((weights[changeable] >= 0) & (weights[changeable] < 1)).all())
    assert bool((weights[changeable][made["mask"][changeable] == 0] == 0).all())


def test_strength_zero_is_the_identity_for_the_encoder():
    generator, ids, encoder = _generator(strength=0.0), _ids(), _encoder().eval()
    view, _ = generator(ids, torch.Generator().manual_seed(0))
    assert torch.equal(view.token_weights, torch.ones(ids.shape))
    with torch.no_grad():
        assert torch.equal(encoder(view), encoder(ids))


def test_a_hard_mask_with_full_gain_is_the_token_cutoff():
    """Dropped tokens weigh 0: the encoder sees what it sees for CUT_ID at those tokens."""
    generator, ids, encoder = _generator(), _ids(), _encoder().eval()
    with torch.no_grad():
        generator.transform_head.bias.fill_(40.0)  # g = 1 in float32
    view, made = generator(ids, torch.Generator().manual_seed(2))
    dropped = made["valid"] & (made["mask"] == 0)
    assert bool(dropped.any())
    with torch.no_grad():
        torch.testing.assert_close(encoder(view), encoder(ids.masked_fill(dropped, CUT_ID)))


def test_generator_loss_trains_only_the_generator_through_the_frozen_encoder():
    generator, ids, encoder = _generator(), _ids(), _encoder()
    view, made = generator(ids, torch.Generator().manual_seed(0))
    with frozen(encoder) as encode:
        output = generator.loss(encode, ids, view, made)
    output.loss.backward()
    assert math.isfinite(output.loss.item())
    assert all(p.grad is None for p in encoder.parameters())
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in generator.parameters())
    assert float(generator.embedding.weight.grad.abs().sum()) > 0
    assert encoder.training


def test_a_pretrained_hugging_face_encoder_passes_the_gradient(tmp_path):
    encoder = hf_text_encoder(tiny_bert_folder(tmp_path, word_level(0)), max_length=16,
                              progress=False)
    generator, ids = _generator(), _ids()
    view, made = generator(ids, torch.Generator().manual_seed(0))
    with frozen(encoder) as encode:
        output = generator.loss(encode, ids, view, made)
    output.loss.backward()
    assert all(p.grad is None for p in encoder.parameters())
    assert float(generator.mask_head.weight.grad.abs().sum()) > 0


def test_token_weights_follow_the_batch_and_refuse_misuse():
    ids = _ids()
    weights = torch.rand(ids.shape, requires_grad=True)
    batch = TokenBatch(ids, token_weights=weights * 1)
    assert not batch.detach().token_weights.requires_grad
    assert torch.equal(batch.to("cpu").token_weights, batch.token_weights)
    with pytest.raises(ValueError, match="learned view"):
        batch.with_ids(ids[:, :3])
    with pytest.raises(ValueError, match="token_weights must have the ids' shape"):
        TokenBatch(ids, token_weights=torch.ones(4, 3))


@pytest.mark.parametrize("ids, message", [
    (torch.tensor([[2, 9, 3]]), "vocab_size=7"),
    (torch.zeros(2, 2, 3, dtype=torch.long), "shape \\(batch, length\\)"),
])
def test_bad_token_input_is_refused_with_the_fix(ids, message):
    with pytest.raises(ValueError, match=message):
        _generator()(ids, torch.Generator())


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="strength in \\[0, 1\\]"):
        TextParametricAugmentation(VOCAB, strength=-0.5)
    with pytest.raises(ValueError, match="vocab_size, dim and depth >= 1"):
        TextParametricAugmentation(0)


def test_the_recipe_fills_in_the_encoders_vocabulary():
    recipe = load_recipe("simcse-learned-aug")
    method = build_method(recipe, _encoder(), (12,))
    assert isinstance(method, LearnedViews)
    assert isinstance(method.generator, TextParametricAugmentation)
    assert method.generator.vocab_size == VOCAB and method.generator.lr_scale == 10.0
    assert VIEW_GENERATORS.get("autotcl_text") is TextParametricAugmentation


def test_simcse_with_learned_views_trains_end_to_end(labelled_csv, tmp_path,  # noqa: F811
                                                     monkeypatch):
    for hook in ("write_report", "_write_preview"):  # the pictures take longer than training
        monkeypatch.setattr(contrastlearn.api, hook, lambda *args, **kwargs: None)
    overrides = tiny_scratch(**{"train.steps": 3, "eval.protocols": ["knn"]})
    run = contrastlearn.pretrain("simcse-learned-aug", dataset=labelled_csv,
                                 out=tmp_path / "run", progress=False, overrides=overrides)
    assert run.training.steps == 3 and math.isfinite(run.results[0].value)
    logged = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert "aug_mmd" in logged and "aug_kept_fraction" in logged
    assert isinstance(run.encoder, TextTransformerEncoder)
