"""A small Vision Transformer (Dosovitskiy et al., 2020, arXiv:2010.11929) with token removal.

Token removal runs the Transformer on a subset of the patch tokens: it is what makes FLIP
(Li et al., 2022, arXiv:2212.00794) and Attentive Mask CLIP (Yang et al., 2023,
arXiv:2212.08653) cheap. The encoder therefore takes `keep`, the patch indices to run on, and
offers two per-patch scores a method can rank patches by: `patch_tokens` (features to compare
with a text embedding) and `cls_attention` (the [CLS] token's attention, A-CLIP's own score).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlearn.core.registry import ENCODERS


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = max(1, int(dim * mlp_ratio))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def _heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values of norm1(x), each (B, heads, N, dim / heads)."""
        qkv = self.qkv(self.norm1(x)).unflatten(-1, (3, self.heads, -1))
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        return q, k, v

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self._heads(x)
        attended = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(attended.transpose(1, 2).flatten(2))
        return x + self.mlp(self.norm2(x))

    def cls_attention(self, x: Tensor) -> Tensor:
        """(B, N - 1): the first token's attention weights on the others, mean over heads."""
        q, k, _ = self._heads(x)
        logits = q[:, :, :1] @ k.transpose(-2, -1) * q.shape[-1] ** -0.5
        return logits.softmax(dim=-1)[:, :, 0, 1:].mean(dim=1)


@ENCODERS.register("vit_tiny")
class VisionTransformer(nn.Module):
    """ViT without classifier: (B, C, H, W) -> (B, dim) final [CLS] representation.

    Patches come from a convolution with stride `patch_size`; learnable position embeddings
    cover the `image_size / patch_size` squared grid (`num_patches`); pre-norm blocks use
    `scaled_dot_product_attention`; a final LayerNorm closes. Defaults suit 28x28 images on a
    CPU (49 patches of 4x4, dim 192, depth 4, 3 heads).

    Token removal: `forward(x, keep)` with `keep` an int64 (B, K) tensor of patch indices
    (row-major over the patch grid, in [0, num_patches)) runs the blocks on the [CLS] token
    and those K patches only. Position embeddings are added before the patches are dropped,
    so every kept patch keeps its place. `keep=None` keeps every patch.
    """

    modality = "image"
    """The kind of data it reads (`evaluate` and `embed` read it from the module)."""

    def __init__(
        self,
        image_size: int = 28,
        patch_size: int = 4,
        in_channels: int = 1,
        dim: int = 192,
        depth: int = 4,
        heads: int = 3,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        _check_sizes(image_size, patch_size, in_channels, dim, depth, heads, mlp_ratio)
        self.image_size = int(image_size)
        self.in_channels = int(in_channels)
        self.num_patches = (self.image_size // int(patch_size)) ** 2
        self.out_dim = int(dim)
        self.patch_embed = nn.Conv2d(self.in_channels, self.out_dim, int(patch_size),
                                     stride=int(patch_size))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.out_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches, self.out_dim))
        self.blocks = nn.ModuleList(
            TransformerBlock(self.out_dim, int(heads), float(mlp_ratio)) for _ in range(int(depth))
        )
        self.norm = nn.LayerNorm(self.out_dim)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def _embed(self, x: Tensor, keep: Tensor | None) -> Tensor:
        """(B, 1 + K, dim): [CLS] then the kept patches, position embeddings added."""
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[2:] != (
            self.image_size, self.image_size,
        ):
            raise ValueError(
                f"vit_tiny expects images shaped (batch, {self.in_channels}, {self.image_size}, "
                f"{self.image_size}); got {tuple(x.shape)}. Set in_channels and image_size to "
                "the data's."
            )
        patches = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        if keep is not None:
            _check_keep(keep, x.shape[0], self.num_patches)
            patches = patches.gather(1, keep.unsqueeze(-1).expand(-1, -1, self.out_dim))
        return torch.cat([self.cls_token.expand(x.shape[0], -1, -1), patches], dim=1)

    def _tokens(self, x: Tensor, keep: Tensor | None) -> Tensor:
        tokens = self._embed(x, keep)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def forward(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        """(B, dim) [CLS] representation, computed on the patches in `keep` (all if None)."""
        return self._tokens(x, keep)[:, 0]

    def patch_tokens(self, x: Tensor) -> Tensor:
        """(B, num_patches, dim) final per-patch features (after the final norm), for scoring
        patches, e.g. against a text embedding with `contrastlearn.augment.token_keep`."""
        return self._tokens(x, None)[:, 1:]

    def cls_attention(self, x: Tensor) -> Tensor:
        """(B, num_patches) attention of [CLS] on each patch, averaged over heads and layers:
        the relevance score Attentive Mask CLIP ranks patches by (its [CLS] is the token
        aligned with the text)."""
        tokens = self._embed(x, None)
        total = tokens.new_zeros(tokens.shape[0], self.num_patches)
        for block in self.blocks:
            total = total + block.cls_attention(tokens)
            tokens = block(tokens)
        return total / len(self.blocks)


def _check_sizes(image_size: int, patch_size: int, in_channels: int, dim: int, depth: int,
                 heads: int, mlp_ratio: float) -> None:
    for name, value in (("image_size", image_size), ("patch_size", patch_size),
                        ("in_channels", in_channels), ("dim", dim), ("depth", depth),
                        ("heads", heads)):
        if int(value) < 1:
            raise ValueError(f"vit_tiny {name} must be >= 1; got {value!r}")
    if float(mlp_ratio) <= 0:
        raise ValueError(f"vit_tiny mlp_ratio must be > 0; got {mlp_ratio!r}")
    if int(image_size) % int(patch_size):
        raise ValueError(
            f"vit_tiny image_size {image_size} is not divisible by patch_size {patch_size}; "
            "pick a patch_size that divides it"
        )
    if int(dim) % int(heads):
        raise ValueError(
            f"vit_tiny dim {dim} is not divisible by heads {heads}; pick heads that divide dim"
        )


def _check_keep(keep: Tensor, batch_size: int, num_patches: int) -> None:
    if keep.dtype != torch.int64 or keep.dim() != 2 or keep.shape[0] != batch_size:
        raise ValueError(
            f"keep must be an int64 (batch={batch_size}, K) tensor of patch indices; got "
            f"{keep.dtype} {tuple(keep.shape)}"
        )
    if keep.numel() and (int(keep.min()) < 0 or int(keep.max()) >= num_patches):
        raise ValueError(
            f"keep holds patch indices outside [0, {num_patches}); got "
            f"{int(keep.min())}..{int(keep.max())}"
        )
