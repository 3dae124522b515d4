"""The recsys room's `Modality`: user-item interaction logs (CSV/TSV, RecBole atomic files,
arrays of rows), split per user by ratio or by time, trained as graph or sequential
recommenders and scored by full-sort ranking after every run."""

from __future__ import annotations

from typing import Any

from contrastlearn.core.registry import MODALITIES
from contrastlearn.data.arrays import DataError, DatasetSplits
from contrastlearn.data.modality import Modality
from contrastlearn.modalities.recsys.data import SPLIT_FILE_READERS, recsys_splits
from contrastlearn.modalities.recsys.options import RecsysOptions
from contrastlearn.modalities.recsys.preview import write_recsys_preview


def recsys_encoder_inputs(splits: DatasetSplits) -> dict[str, Any]:
    """Recsys encoders are sized by the data: users, items and training interactions."""
    graph = splits.train.graph
    inputs = {"num_users": graph.num_users, "num_items": graph.num_items,
              "num_edges": len(graph)}
    if splits.train.max_length is not None:
        inputs["max_length"] = splits.train.max_length
    return inputs


def recsys_samples(inputs: Any, scale: float | None = None) -> Any:
    """Embedding raw inputs has no meaning here: users are scored through `recommend`."""
    raise DataError("a recommender embeds the users and items it was trained on: use "
                    "`contrastlearn recommend RUN --user ID` for a user's top items, or "
                    "`contrastlearn evaluate RUN` for ranking metrics")


RECSYS = MODALITIES.register("recsys")(Modality(
    name="recsys",
    description="user-item interactions: CSV/TSV (user, item, rating, timestamp), RecBole "
                ".inter files, or (E, 2..4) arrays of rows",
    split_arrays=recsys_splits,
    to_samples=recsys_samples,
    options=RecsysOptions,
    file_readers=SPLIT_FILE_READERS,
    accepts_objects=True,
    encoder_inputs=recsys_encoder_inputs,
    preview=write_recsys_preview,
    default_recipe="lightgcn",
    protocols=(),
))
