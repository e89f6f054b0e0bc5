"""What one version of policies.yaml builds (policies, LiteLLM router, scorer), and hot reload.

Requests read ``app.state.runtime`` once, so each request sees one consistent version.
:class:`PolicyWatcher` swaps in a new runtime when the file changes and parses; on any error it
logs the file, line and reason, keeps serving the last good runtime and records ``last_error``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from router.policies import Policies, PolicyError, load_policies
from router.scoring.base import Scorer
from router.scoring.stand_in import stand_in_scorer
from router.spend import SpendController
from router.upstream import Upstream

log = logging.getLogger(__name__)

ScorerFactory = Callable[[Policies], Scorer]


@dataclass(frozen=True)
class Runtime:
    policies: Policies
    upstream: Upstream
    scorer: Scorer
    # policy name -> its spend controller (policies with a spend target); restarts on a reload
    spend: dict[str, SpendController] = field(default_factory=dict)


def build_runtime(path: str | Path, scorer_factory: ScorerFactory = stand_in_scorer,
                  policies: Policies | None = None) -> Runtime:
    """The runtime of the file at ``path`` (``policies``: that file, already parsed)."""
    policies = policies if policies is not None else load_policies(path)
    return Runtime(policies=policies, upstream=Upstream(policies), scorer=scorer_factory(policies),
                   spend=spend_controllers(policies))


def spend_controllers(policies: Policies) -> dict[str, SpendController]:
    """A controller for every policy with a spend target, starting at the policy's threshold."""
    return {name: SpendController(target_share=p.target_cost_share, target_usd_per_1k=p.target_usd_per_1k,
                                  threshold=p.threshold, low=p.threshold_bounds[0], high=p.threshold_bounds[1])
            for name, p in policies.policies.items()
            if p.target_cost_share is not None or p.target_usd_per_1k is not None}


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class PolicyWatcher:
    def __init__(self, path: str | Path, scorer_factory: ScorerFactory = stand_in_scorer,
                 policies: Policies | None = None) -> None:
        self.path = Path(path)
        self._factory = scorer_factory
        self._seen = _signature(self.path)
        # raises PolicyError at start; ``policies``: the file, parsed at start (not parsed again)
        self.runtime = build_runtime(self.path, scorer_factory, policies)
        self.last_error: str | None = None

    def reload(self) -> bool:
        """Re-read the file if it changed. True when a new runtime was swapped in."""
        sig = _signature(self.path)
        if sig == self._seen:
            return False
        self._seen = sig
        try:
            self.runtime = build_runtime(self.path, self._factory)
        except PolicyError as exc:
            self.last_error = str(exc)
            log.error("policies not reloaded, keeping the last good version: %s", exc)
            return False
        except Exception as exc:  # e.g. LiteLLM refusing a deployment
            self.last_error = f"{self.path}: {exc}"
            log.error("policies not reloaded, keeping the last good version: %s", self.last_error)
            return False
        self.last_error = None
        log.info("policies reloaded from %s", self.path)
        return True
