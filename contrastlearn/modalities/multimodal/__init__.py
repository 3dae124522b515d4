"""The multimodal room: paired records of other rooms (image-text, text-image-audio), the
rooms' own encoders projected into one space, CLIP / SigLIP / Symile / pairwise objectives,
zero-shot classification and cross-modal retrieval."""

from contrastlearn.modalities.multimodal import (  # noqa: F401
    builtin,
    encoder,
    methods,
    modality,
    views,
)
from contrastlearn.modalities.multimodal.batch import MultiBatch
from contrastlearn.modalities.multimodal.data import MultimodalDataset, multimodal_splits
from contrastlearn.modalities.multimodal.encoder import MultimodalEncoder

__all__ = ["MultiBatch", "MultimodalDataset", "MultimodalEncoder", "multimodal_splits"]
