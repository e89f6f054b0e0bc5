"""`v0-gateway prepare` encodes the default profiles' prompts ahead of the first start
(router/scoring/prepared.py): a gateway starting on an empty database then seeds and fits the
default profiles without encoding any of their prompts, and routes with the same P as a gateway
that encoded them itself. A file of other weights, or a damaged one, is ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from profiles_support import route, start_v0_gateway
from router.profiles.seed import default_profiles_dir
from router.profiles.upload import parse_upload
from router.scoring.features import FeatureCache
from router.scoring.prepared import load_prepared, prepared_path, write_prepared
from test_profiles_defaults import repo_policies

WINDOW = 8


class CountingV0:
    """The shipped V0, counting the texts it encodes."""

    def __init__(self, v0: Any) -> None:
        self.v0, self.encoded = v0, 0

    def encode(self, texts: list[str]) -> Any:
        self.encoded += len(texts)
        return self.v0.encode(texts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.v0, name)


def default_texts() -> list[str]:
    """Every prompt of the default profiles (what `v0-gateway prepare` encodes)."""
    return [r.prompt for path in sorted(default_profiles_dir().glob("*.jsonl"))
            for r in parse_upload(path.read_bytes(), fmt="jsonl", max_rows=10_000)]


@pytest.fixture(scope="module")
def prepared_cache(v0: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("V0_CACHE_DIR", str(cache))
        path = write_prepared(v0, default_texts())
    assert path == cache / "features" / f"defaults-{v0.fingerprint}.npz"
    assert path.stat().st_mode & 0o777 == 0o644
    return cache


def test_first_start_fits_the_default_profiles_without_encoding(v0, prepared_cache, fresh_database, serve_app,
                                                                 tmp_path, monkeypatch):
    monkeypatch.setenv("V0_CACHE_DIR", str(prepared_cache))
    prompt = "What is the capital of France?"
    first = CountingV0(v0)
    gw = start_v0_gateway(serve_app, tmp_path, fresh_database, repo_policies(WINDOW), v0=first,
                          features=FeatureCache(), name="prepared.yaml")
    got = route(gw, prompt)
    assert first.encoded == 1  # the routed prompt only: every profile row came from the file
    assert all(c["profile_version"] == 1 for c in got["candidates"])

    # Another gateway on the same database without the file encodes the same rows itself and
    # routes with the same P.
    monkeypatch.setenv("V0_CACHE_DIR", str(tmp_path / "empty-cache"))
    second = CountingV0(v0)
    control = start_v0_gateway(serve_app, tmp_path, fresh_database, repo_policies(WINDOW), v0=second,
                               features=FeatureCache(), name="control.yaml")
    want = route(control, prompt)
    assert second.encoded > WINDOW
    assert [(c["name"], c["profile_version"]) for c in want["candidates"]] == \
        [(c["name"], c["profile_version"]) for c in got["candidates"]]
    have = np.array([c["p_success"] for c in got["candidates"]])
    assert np.abs(have - np.array([c["p_success"] for c in want["candidates"]])).max() <= 1e-6


def test_a_file_of_other_weights_or_a_damaged_one_is_ignored(v0, tmp_path, monkeypatch):
    monkeypatch.setenv("V0_CACHE_DIR", str(tmp_path / "cache"))
    texts = default_texts()[:3]
    path = write_prepared(v0, texts)
    cache = FeatureCache()
    assert load_prepared(cache, v0) == 3
    assert len(cache) == 3
    counting = CountingV0(v0)
    np.testing.assert_array_equal(cache.features(counting, texts), np.asarray(v0.encode(texts), np.float32))
    assert counting.encoded == 0

    other = CountingV0(v0)
    other.fingerprint = "other-weights"  # another file name: nothing to load
    assert not prepared_path("other-weights").exists()
    assert load_prepared(FeatureCache(), other) == 0

    path.write_bytes(b"not an npz")
    assert load_prepared(FeatureCache(), v0) == 0
