"""Standard image view policies (SimCLR, BYOL, SwAV multi-crop) as `Views` objects.

Each preset is registered in ``AUGMENTATIONS`` (``simclr_views``, ``byol_views``,
``swav_views``) so recipes can name it, and can be built by short name with
:func:`image_views`. Every preset takes ``size`` (the output side), ``in_channels`` (1 drops
the colour-only steps, which are no-ops on grayscale anyway) and optional ``mean``/``std``
(appends :class:`Normalize`).

Strength: ``strength`` scales the colour distortion as SimCLR's ``s`` does (jitter
``0.8s, 0.8s, 0.8s, 0.2s`` for SimCLR). ``strength=0`` is a *no-augmentation control*: the
defaults that are left unset switch to a full-image crop (``scale=(1, 1)``), no flip, no
colour jitter, no grayscale, no blur, no solarize, so each view is the input resized to
``size`` (exactly the input when it already has that size). Settings passed explicitly are
always honoured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from contrastlearn.augment.base import Augmentation, Compose, RandomApply
from contrastlearn.augment.views import ViewPipeline, Views
from contrastlearn.core.registry import AUGMENTATIONS
from contrastlearn.modalities.image.augment import (
    ColorJitter,
    GaussianBlur,
    Normalize,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Solarize,
    compose,
)

__all__ = [
    "PRESETS",
    "blur_kernel_size",
    "byol_views",
    "image_pipeline",
    "image_views",
    "simclr_views",
    "swav_views",
]

Size = int | Sequence[int]

#: Images at least this large get a Gaussian blur by default. SimCLR blurs ImageNet views but
#: not CIFAR-10 ones (Chen et al. 2020, appendix B.9): at 32 px the blur destroys too much.
BLUR_MIN_SIZE = 64


def _side(size: Size) -> int:
    return size if isinstance(size, int) else max(int(s) for s in size)


def blur_kernel_size(size: Size) -> int:
    """SimCLR's blur kernel: 10% of the image side, made odd, at least 3."""
    kernel = max(3, int(0.1 * _side(size)))
    return kernel if kernel % 2 == 1 else kernel + 1


def _setting(value, usual, off, strength: float):
    """An unset (None) setting takes its `usual` value, or its `off` value when strength == 0;
    an explicit setting is returned as given."""
    if value is not None:
        return value
    return usual if strength > 0 else off


def image_pipeline(
    size: Size,
    *,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    flip_p: float = 0.5,
    jitter: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
    jitter_p: float = 0.8,
    grayscale_p: float = 0.0,
    blur_p: float = 0.0,
    blur_sigma: Sequence[float] = (0.1, 2.0),
    solarize_p: float = 0.0,
    in_channels: int | None = None,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> Compose:
    """One view pipeline: crop+flip (one fused warp) -> colour jitter -> grayscale -> blur ->
    solarize -> normalize. Steps whose probability or strength is 0 are left out."""
    grayscale_only = in_channels == 1
    brightness, contrast, saturation, hue = (float(j) for j in jitter)
    if grayscale_only:
        saturation = hue = 0.0
    steps: list[Augmentation] = [RandomResizedCrop(size, scale=scale, ratio=ratio)]
    if flip_p > 0:
        steps.append(RandomHorizontalFlip(flip_p))
    if jitter_p > 0 and any((brightness, contrast, saturation, hue)):
        steps.append(
            ColorJitter(brightness, contrast, saturation, min(hue, 0.5), p=jitter_p)
        )
    if grayscale_p > 0 and not grayscale_only:
        steps.append(RandomGrayscale(grayscale_p))
    if blur_p > 0:
        blur = GaussianBlur(blur_kernel_size(size), sigma=blur_sigma)
        steps.append(blur if blur_p >= 1 else RandomApply(blur, blur_p))
    if solarize_p > 0:
        solarize = Solarize(0.5)
        steps.append(solarize if solarize_p >= 1 else RandomApply(solarize, solarize_p))
    if mean is not None or std is not None:
        if mean is None or std is None:
            raise ValueError("pass both mean and std to normalize the views, or neither")
        steps.append(Normalize(mean, std))
    return compose(steps)


@AUGMENTATIONS.register("simclr_views")
def simclr_views(
    size: Size,
    *,
    strength: float = 1.0,
    blur: bool | None = None,
    grayscale_p: float | None = None,
    flip_p: float | None = None,
    scale: Sequence[float] | None = None,
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    num_views: int = 2,
    in_channels: int | None = None,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> Views:
    """SimCLR's view policy: crop, flip, colour jitter, grayscale, blur.

    Chen et al. 2020 (arXiv:2002.05709): random resized crop + flip, colour jitter
    (0.8s, 0.8s, 0.8s, 0.2s) with p=0.8, grayscale with p=0.2, blur with p=0.5.

    `blur` None blurs only images of at least 64 px (SimCLR does not blur CIFAR). Unset
    settings default to the paper's (scale (0.08, 1), flip 0.5, grayscale 0.2), or to "off"
    when ``strength == 0`` (see the module docstring).
    """
    if strength < 0:
        raise ValueError(f"simclr_views strength must be >= 0, got {strength}")
    if num_views < 1:
        raise ValueError(f"simclr_views num_views must be >= 1, got {num_views}")
    s = strength
    use_blur = _setting(blur, _side(size) >= BLUR_MIN_SIZE, False, s)
    pipeline = image_pipeline(
        size,
        scale=_setting(scale, (0.08, 1.0), (1.0, 1.0), s),
        ratio=ratio,
        flip_p=_setting(flip_p, 0.5, 0.0, s),
        jitter=(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s),
        jitter_p=0.8,
        grayscale_p=_setting(grayscale_p, 0.2, 0.0, s),
        blur_p=0.5 if use_blur else 0.0,
        in_channels=in_channels,
        mean=mean,
        std=std,
    )
    return Views([ViewPipeline(pipeline, count=num_views)])


@AUGMENTATIONS.register("byol_views")
def byol_views(
    size: Size,
    *,
    strength: float = 1.0,
    scale: Sequence[float] | None = None,
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    flip_p: float | None = None,
    grayscale_p: float | None = None,
    blur_p: Sequence[float] | None = None,
    solarize_p: Sequence[float] | None = None,
    in_channels: int | None = None,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> Views:
    """BYOL's two asymmetric views: blur p=1.0/0.1, solarize p=0/0.2.

    Grill et al. 2020 (arXiv:2006.07733, table 6): crop + flip, colour jitter
    (0.4s, 0.4s, 0.2s, 0.1s) with p=0.8, grayscale p=0.2, then blur with p = (1.0, 0.1) and
    solarize with p = (0.0, 0.2) for the first and second view.

    Unlike SimCLR, BYOL blurs at every image size. Unset settings go "off" when
    ``strength == 0`` (see the module docstring).
    """
    if strength < 0:
        raise ValueError(f"byol_views strength must be >= 0, got {strength}")
    s = strength
    blur_p = _setting(blur_p, (1.0, 0.1), (0.0, 0.0), s)
    solarize_p = _setting(solarize_p, (0.0, 0.2), (0.0, 0.0), s)
    if len(blur_p) != 2 or len(solarize_p) != 2:
        raise ValueError("byol_views blur_p and solarize_p need one probability per view (2)")
    common = dict(
        scale=_setting(scale, (0.08, 1.0), (1.0, 1.0), s),
        ratio=ratio,
        flip_p=_setting(flip_p, 0.5, 0.0, s),
        jitter=(0.4 * s, 0.4 * s, 0.2 * s, 0.1 * s),
        jitter_p=0.8,
        grayscale_p=_setting(grayscale_p, 0.2, 0.0, s),
        in_channels=in_channels,
        mean=mean,
        std=std,
    )
    return Views([
        image_pipeline(size, blur_p=blur_p[view], solarize_p=solarize_p[view], **common)
        for view in range(2)
    ])


@AUGMENTATIONS.register("swav_views")
def swav_views(
    global_size: Size | None = None,
    local_size: Size | None = None,
    num_global: int = 2,
    num_local: int = 6,
    global_scale: Sequence[float] | None = None,
    local_scale: Sequence[float] | None = None,
    *,
    size: Size | None = None,
    strength: float = 1.0,
    blur: bool | None = None,
    grayscale_p: float | None = None,
    flip_p: float | None = None,
    in_channels: int | None = None,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> Views:
    """SwAV multi-crop: a few large global crops and several small local crops.

    Caron et al. 2020 (arXiv:2006.09882): `num_global` crops of
    `global_size` with area in `global_scale` (default (0.14, 1)) and `num_local` crops of
    `local_size` with area in `local_scale` (default (0.05, 0.14)), each with flip, SimCLR
    colour distortion and blur p=0.5 (blur None: only crops of at least 64 px).

    `size` stands in for `global_size` when that is not given (so every preset builds with
    ``size=``, which the recipe builder fills in from the data; an explicit `global_size`
    wins);
    `local_size` defaults to 96/224 of the global size, at least 1 px. The views come out
    global first, then local. Unset settings go "off" when ``strength == 0``.
    """
    if global_size is None:
        global_size = size
    if global_size is None:
        raise ValueError("swav_views needs global_size (or size), e.g. swav_views(224, 96)")
    if strength < 0:
        raise ValueError(f"swav_views strength must be >= 0, got {strength}")
    if num_global < 1 or num_local < 0:
        raise ValueError(
            f"swav_views needs num_global >= 1 and num_local >= 0, got {num_global}, {num_local}"
        )
    if local_size is None:
        local_size = max(1, round(_side(global_size) * 96 / 224))
    s = strength
    common = dict(
        flip_p=_setting(flip_p, 0.5, 0.0, s),
        jitter=(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s),
        jitter_p=0.8,
        grayscale_p=_setting(grayscale_p, 0.2, 0.0, s),
        in_channels=in_channels,
        mean=mean,
        std=std,
    )

    def crops(crop_size: Size, crop_scale, usual_scale, count: int) -> ViewPipeline:
        use_blur = _setting(blur, _side(crop_size) >= BLUR_MIN_SIZE, False, s)
        pipeline = image_pipeline(
            crop_size,
            scale=_setting(crop_scale, usual_scale, (1.0, 1.0), s),
            blur_p=0.5 if use_blur else 0.0,
            **common,
        )
        return ViewPipeline(pipeline, count=count)

    pipelines = [crops(global_size, global_scale, (0.14, 1.0), num_global)]
    if num_local > 0:
        pipelines.append(crops(local_size, local_scale, (0.05, 0.14), num_local))
    return Views(pipelines)


PRESETS: dict[str, Callable[..., Views]] = {
    "simclr": simclr_views,
    "byol": byol_views,
    "swav": swav_views,
}


def image_views(name: str, **kwargs) -> Views:
    """Build a view preset by name: ``"simclr"``, ``"byol"``, ``"swav"`` (with or without the
    ``_views`` suffix), e.g. ``image_views("simclr", size=32, strength=0.5)``."""
    key = name[: -len("_views")] if name.endswith("_views") else name
    if key not in PRESETS:
        known = ", ".join(sorted(PRESETS))
        raise ValueError(f"unknown image view preset {name!r}; known presets: {known}")
    return PRESETS[key](**kwargs)
