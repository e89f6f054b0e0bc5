"""Profiles for the routed overhead cells: 256 graded prompts per candidate, uploaded through
the gateway's admin API, then checked through /v1/route before anything is measured.

Source: the shipped default profiles (router/data/profiles/*.jsonl, 256 rows each) by default,
or --profiles DIR (shared-data format): its first models by name, rows drawn with a fixed seed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PROFILES = REPO / "router" / "data" / "profiles"


def _profile_texts(n_models: int, rows: int, profiles_dir: str | None) -> list[tuple[str, bytes]]:
    """[(source name, JSONL bytes)] for n_models candidates."""
    if profiles_dir is None:
        files = sorted(DEFAULT_PROFILES.glob("*.jsonl"))[:n_models]
        if len(files) < n_models:
            raise RuntimeError(f"need {n_models} profile files in {DEFAULT_PROFILES}")
        out = []
        for f in files:
            lines = [ln for ln in f.read_text().splitlines() if ln.strip()][:rows]
            out.append((f.stem, ("\n".join(lines) + "\n").encode()))
        return out
    from valuemodel.data import load_dataset

    ds = load_dataset(profiles_dir)
    rng = np.random.default_rng(0)
    out = []
    for model in ds.models[:n_models]:
        mine = ds.outcomes[ds.outcomes["model"] == model]
        pick = mine.iloc[np.sort(rng.choice(len(mine), size=min(rows, len(mine)), replace=False))]
        body = "".join(json.dumps({"prompt": ds.prompts[p], "score": float(s)}) + "\n"
                       for p, s in zip(pick["prompt_id"], pick["score"]))
        out.append((model, body.encode()))
    return out


def upload_profiles(base: str, key: str, candidates: list[str], rows: int, profiles_dir: str | None) -> str:
    """Upload `rows` rows per candidate (replace), wait until /v1/route scores every candidate
    with its new profile version, and return a note on what scores the routed requests."""
    auth = {"Authorization": f"Bearer {key}"}
    sources = _profile_texts(len(candidates), rows, profiles_dir)
    versions = {}
    with httpx.Client(base_url=base, headers=auth, timeout=120) as c:
        for cand, (src, body) in zip(candidates, sources):
            r = c.post(f"/admin/profiles/{cand}", params={"mode": "replace"}, content=body,
                       headers={"content-type": "application/jsonl"})
            r.raise_for_status()
            versions[cand] = r.json()["version"]
        deadline = time.monotonic() + 120
        while True:
            r = c.post("/v1/route", json={"model": "router/bench", "messages": [{"role": "user", "content": "hello"}]})
            r.raise_for_status()
            seen = {e["name"]: e["profile_version"] for e in r.json()["candidates"]}
            if all(seen.get(k) == v for k, v in versions.items()):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"profiles not routable after 120 s: {seen} vs {versions}")
            time.sleep(0.2)
    where = "router/data/profiles" if profiles_dir is None else Path(profiles_dir).name
    return (f"V0 (the gateway's scorer, shipped weights) over {len(candidates)} candidates x {rows}-row profiles "
            f"uploaded through the admin API (from {where}: {', '.join(s for s, _ in sources)})")
