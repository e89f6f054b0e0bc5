"""The sections of policies.yaml beside candidates and policies: a policy's profile ``window`` and
conversation ``affinity``, the file's ``grading`` (with a policy's override) and ``feedback``.
Re-exported by :mod:`router.policies`, which validates the whole file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class WindowSpec(_Strict):
    """Which of a candidate's profile rows form its active window (router/scoring/window.py)."""

    policy: Literal["recent", "keep_seed", "balanced", "decay"] = "balanced"
    history: int = Field(default=4, ge=1, le=64)  # rows considered: history x profile_size, most recent
    seed_share: float = Field(default=0.25, ge=0, le=1)  # keep_seed: window share kept for uploaded rows
    clusters: int = Field(default=8, ge=1, le=256)  # balanced: k-means clusters of the prompts' features
    half_life: float = Field(default=256, gt=0)  # decay: a row's weight halves every half_life newer rows


class AffinitySpec(_Strict):
    """A conversation keeps the model its first routed turn chose (router/serving/affinity.py)."""

    enabled: bool = True
    ttl_s: float = Field(default=3600, gt=0)  # a conversation unseen this long is routed afresh
    escalate: Literal["never", "up"] = "never"  # up: a new user turn may move to a stronger candidate


DEFAULT_RUBRIC = (
    "Grade how well the answer serves the request: correct, complete, and following the request's "
    "instructions. 1 = fully correct and helpful; 0.5 = partly correct or incomplete; 0 = wrong, "
    "unhelpful, or a refusal of a harmless request.")


class GradingOverride(_Strict):
    """A policy's ``grading:``: any of the file's settings, replaced for that policy's requests."""

    judge: str | None = Field(default=None, min_length=1)  # a candidate name
    sample_rate: float | None = Field(default=None, ge=0, le=1)
    shadow_rate: float | None = Field(default=None, ge=0, le=1)
    rubric: str | None = Field(default=None, min_length=1, max_length=4000)
    shadow_tools: bool | None = None


class GradingSpec(_Strict):
    """``grading:``: the learning loop (router/grading/). A sampled answered request is graded by
    the judge off the request path; with ``shadow_rate`` a routed request is also answered by one
    other candidate (never returned) and both answers are graded. ``max_usd_per_day`` caps judge
    and shadow spend together (per UTC day, the whole file)."""

    judge: str = Field(min_length=1)  # a candidate name: any LiteLLM model
    sample_rate: float = Field(default=0.05, ge=0, le=1)  # share of answered requests graded
    shadow_rate: float = Field(default=0.0, ge=0, le=1)  # share of routed requests also shadow-called
    max_usd_per_day: float = Field(default=5.0, ge=0)
    rubric: str = Field(default=DEFAULT_RUBRIC, min_length=1, max_length=4000)
    shadow_tools: bool = False  # shadow-call requests that carry tools (they may act on the world)

    def merged(self, override: GradingOverride | None) -> "GradingSpec":
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))


class FeedbackSpec(_Strict):
    """Who may steer the shared profiles with POST /v1/feedback, and how often."""

    # Whose grades join the profiles: "all", or a list of admin-created key ids plus "static"
    # (V0_CLIENT_KEYS keys) and "anonymous" (no keys configured). Other grades are kept on their
    # decision only.
    trusted_keys: Literal["all"] | list[int | Literal["static", "anonymous"]] = "all"
    # Grades one key may send per hour (429 beyond; none: unlimited).
    max_per_key_per_hour: int | None = Field(default=None, gt=0)

    def trusts(self, key_id: int | None, kind: str) -> bool:
        if self.trusted_keys == "all":
            return True
        if kind == "db":
            return key_id in self.trusted_keys
        return ("static" if kind == "env" else "anonymous") in self.trusted_keys
