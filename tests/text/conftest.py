"""Text tests keep the token cache in their own temporary folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def private_token_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTRASTLEARN_CACHE", str(tmp_path / "token-cache"))
