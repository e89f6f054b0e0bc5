"""A client for GRPO-style training loops: choose each step's prompts through ``POST /v1/select``.

Needs only httpx (no torch, no gateway code). Once per step::

    sel = SelectionClient("http://127.0.0.1:8000", profile=warm_up_rows)   # [(prompt, pass_rate)]
    chosen = sel.select(pool, batch_size=64)          # pool: [(id, prompt)]; best first
    ... roll out group_size samples of each chosen prompt, grade them ...
    sel.record({c.id: (successes, trials) for ...})   # the policy's profile and each prompt's history

The policy's profile is kept here, the most recent ``profile_size`` graded prompts, and sent
inline (a moving policy needs a fresh profile: each record pushes the oldest rows out); or, with
``model`` and ``admin_key``, it is a candidate's stored profile and ``record`` appends to it.
Each prompt's history (successes, trials over every recorded step) is sent with the pool.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Chosen:
    id: str
    p_success: float  # V0's predicted pass rate
    p_posterior: float  # with the prompt's own history
    p_informative: float  # P(a group has a success and a failure)


class SelectionClient:
    def __init__(self, base_url: str, *, profile: Iterable[tuple[str, float]] = (), model: str | None = None,
                 admin_key: str | None = None, api_key: str | None = None, profile_size: int = 256,
                 group_size: int = 8, timeout: float = 600.0, http: httpx.Client | None = None):
        if (model is None) != (admin_key is None):
            raise ValueError("a stored profile needs both model and admin_key; an inline one neither")
        self.base_url = base_url.rstrip("/")
        self.model, self.admin_key, self.group_size = model, admin_key, group_size
        self.profile: deque[tuple[str, float]] = deque(profile, maxlen=profile_size)
        self.history: dict[str, tuple[int, int]] = {}  # id -> (successes, trials)
        self.prompts: dict[str, str] = {}  # id -> text, for the profile rows record() adds
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = http or httpx.Client(timeout=timeout, headers=headers)

    def select(self, pool: Iterable[tuple[str, str]], batch_size: int) -> list[Chosen]:
        """The batch to roll out from ``pool`` ((id, prompt) pairs), highest P(informative) first."""
        items = []
        for pid, prompt in pool:
            self.prompts[pid] = prompt
            item: dict[str, Any] = {"id": pid, "prompt": prompt}
            if pid in self.history:
                item["history"] = dict(zip(("successes", "trials"), self.history[pid]))
            items.append(item)
        body: dict[str, Any] = {"pool": items, "batch_size": batch_size, "group_size": self.group_size}
        if self.model is not None:
            body["model"] = self.model
        else:
            if not self.profile:
                raise ValueError("the inline profile is empty: pass warm-up rows (prompt, pass rate)")
            body["profile"] = [{"prompt": p, "score": s} for p, s in self.profile]
        r = self._post("/v1/select", json=body)
        return [Chosen(c["id"], c["p_success"], c["p_posterior"], c["p_informative"]) for c in r.json()["selected"]]

    def record(self, results: Mapping[str, tuple[int, int]]) -> None:
        """After the rollouts: id -> (successes, trials) of this step. Adds them to each prompt's
        history and their pass rates to the policy's profile (ids must come from a selected pool)."""
        rows = []
        for pid, (successes, trials) in results.items():
            if pid not in self.prompts or not 0 <= successes <= trials or trials < 1:
                raise ValueError(f"{pid!r}: unknown id or not 0 <= successes <= trials, trials >= 1")
            s, t = self.history.get(pid, (0, 0))
            self.history[pid] = (s + successes, t + trials)
            rows.append((self.prompts[pid], successes / trials))
        if self.model is None:
            self.profile.extend(rows)
        elif rows:
            lines = "".join(json.dumps({"prompt": p, "score": s}) + "\n" for p, s in rows)
            self._post(f"/admin/profiles/{self.model}?mode=append", content=lines.encode(),
                       headers={"Content-Type": "application/jsonl", "Authorization": f"Bearer {self.admin_key}"})

    def _post(self, path: str, **kwargs: Any) -> httpx.Response:
        r = self.http.post(self.base_url + path, **kwargs)
        if r.status_code >= 400:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text}")
        return r

    def close(self) -> None:
        self.http.close()
