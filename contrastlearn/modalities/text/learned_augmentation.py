"""AutoTCL's parametric augmentation (Zheng et al., ICLR 2024, arXiv 2402.10434) for text: the
token network of the modality-free `contrastlearn.augment.learned.LearnedAugmentation`.

What a text encoder receives is a sequence of input embeddings, one per token id, so the view
acts there: a small network (its own token embedding, then dilated 1-D convolutions over the
positions) outputs, per token, an informativeness score h(x) in (0, 1), where the hard-concrete
keep mask m is located, and a gain g(x) in (0, 1). The view is the same ids in a `TokenBatch`
whose `token_weights` 1 - strength * (1 - g * m) scale each token's input embedding: a dropped
token's embedding is zeroed while the token stays attended, which is exactly the library's
token cutoff (CUT_ID; Shen et al. 2020, arXiv 2009.13818), and a kept one is dimmed by g.

Why weights on the input embeddings and not new ids: ids are integers, so a view made of ids
([MASK] or pad in place of dropped tokens) gives the generator no gradient through the frozen
encoder; a weight on the embedding the encoder looks up is differentiable, needs no mask-token
id from the tokenizer, reaches both text encoders (and any pretrained Hugging Face model, fed
`inputs_embeds`) through `cut_input_embeddings`, and with a hard mask its forward value equals
that of ids with CUT_ID at the dropped tokens. Only the interior of each row (not CLS, SEP,
padding or already cut tokens) is ever changed. `strength = 0` gives weights of exactly 1.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from contrastlearn.augment.learned import LearnedAugmentation
from contrastlearn.core.registry import VIEW_GENERATORS
from contrastlearn.modalities.text.tokens import (
    CUT_ID,
    PAD_ID,
    TokenBatch,
    check_tokens,
    interior_mask,
)


@VIEW_GENERATORS.register("autotcl_text")
class TextParametricAugmentation(LearnedAugmentation):
    """AutoTCL's view generator for token ids (B, L): a learned per-token keep mask and gain
    on the input embeddings (see the module docstring). `vocab_size` is the encoder's (recipes
    fill it in); `strength` in [0, 1] scales the change (0: identity). The objective's
    settings are `LearnedAugmentation`'s."""

    def __init__(self, vocab_size: int, dim: int = 32, depth: int = 2, strength: float = 1.0,
                 temperature: float = 1.0, stretch: float = 0.05, keep_target: float = 0.4,
                 size_weight: float = 1e-3, smooth_weight: float = 1e-3,
                 lr_scale: float = 10.0) -> None:
        super().__init__(temperature, stretch, keep_target, size_weight, smooth_weight,
                         lr_scale)
        if min(vocab_size, dim, depth) < 1:
            raise ValueError(f"autotcl_text needs vocab_size, dim and depth >= 1; got "
                             f"{vocab_size}, {dim}, {depth}")
        if not 0 <= strength <= 1:
            raise ValueError(f"autotcl_text needs strength in [0, 1]; got {strength}")
        self.vocab_size, self.strength = int(vocab_size), float(strength)
        self.embedding = nn.Embedding(self.vocab_size, dim, padding_idx=PAD_ID)
        self.convolutions = nn.ModuleList(
            nn.Conv1d(dim, dim, 3, padding=2 ** i, dilation=2 ** i) for i in range(int(depth)))
        self.mask_head = nn.Linear(dim, 1)
        self.transform_head = nn.Linear(dim, 1)

    def parameters_of(self, x: Tensor | TokenBatch) -> tuple[Tensor, Tensor, Tensor]:
        """(B, L) informativeness h in (0, 1), (B, L) gains g in (0, 1), and the (B, L) mask
        of the interior tokens that are not cut already."""
        ids = check_tokens(x, "autotcl_text")
        if ids.numel() and int(ids.max()) >= self.vocab_size:
            raise ValueError(f"autotcl_text was built for vocab_size={self.vocab_size}; got "
                             f"token id {int(ids.max())} (set vocab_size to the encoder's, or "
                             "leave it to the recipe, which fills it in)")
        present = (ids != PAD_ID)[:, None, :].to(self.embedding.weight.dtype)
        features = self.embedding(ids.clamp(min=PAD_ID)).transpose(1, 2) * present
        for convolution in self.convolutions:
            features = (features + nn.functional.gelu(convolution(features))) * present
        features = features.transpose(1, 2)
        informative = torch.sigmoid(self.mask_head(features).squeeze(-1))
        gains = torch.sigmoid(self.transform_head(features).squeeze(-1))
        return informative, gains, interior_mask(ids) & (ids != CUT_ID)

    def make_view(self, x: Tensor | TokenBatch, mask: Tensor, weights: Tensor,
                  valid: Tensor) -> TokenBatch:
        """The ids in a TokenBatch whose token weights are 1 - strength * (1 - g * m) on the
        changeable tokens and 1 elsewhere (times any weights `x` carries)."""
        scale = torch.where(valid, 1 - self.strength * (1 - weights * mask),
                            torch.ones_like(weights))
        batch = x if isinstance(x, TokenBatch) else TokenBatch(x)
        if batch.token_weights is not None:
            scale = scale * batch.token_weights
        return replace(batch, token_weights=scale)
