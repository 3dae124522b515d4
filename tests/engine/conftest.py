"""The session's one group of gloo processes (see tests/engine/gloo.py)."""

from __future__ import annotations

import pytest
import torch.distributed as dist

from tests.engine.gloo import spawn_rank_jobs


@pytest.fixture(scope="session")
def gloo_results(tmp_path_factory) -> list[dict[str, object]]:
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    return spawn_rank_jobs(tmp_path_factory.mktemp("gloo"))
