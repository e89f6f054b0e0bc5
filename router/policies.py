"""policies.yaml: candidates (LiteLLM model strings with prices) and named routing policies.

Validated with pydantic. A bad file raises :class:`PolicyError` naming the file, the line and the
reason; :class:`PolicyWatcher` (in ``runtime.py``) keeps the last good file when a reload fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from router.policy_sections import AffinitySpec, FeedbackSpec, GradingOverride, GradingSpec, WindowSpec, _Strict

AUTO_MODEL = "auto"
POLICY_PREFIX = "router/"


class PolicyError(Exception):
    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = str(path), line, reason
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {reason}")


class CandidateSpec(_Strict):
    model: str = Field(min_length=1)  # LiteLLM model string, e.g. "openai/gpt-4o-mini"
    api_base: str | None = None
    api_base_env: str | None = None  # name of an env var holding api_base (wins when set)
    api_key_env: str | None = None  # name of an env var holding the API key
    # True: never call this candidate while api_key_env is unset (502 upstream_key_missing at once);
    # False: send the placeholder key "none" (OpenAI-compatible servers without auth).
    require_api_key: bool = False
    input_price: float | None = Field(default=None, ge=0)  # USD per 1M input tokens
    output_price: float | None = Field(default=None, ge=0)  # USD per 1M output tokens
    timeout: float = Field(default=60.0, gt=0)  # seconds per upstream attempt
    # The most output tokens one answer may cost: a budget reserves a request's worst case with it
    # (its max_tokens when lower).
    max_output_tokens: int = Field(default=4096, gt=0)
    num_retries: int = Field(default=1, ge=0)
    # Request fields outside the OpenAI chat API that clients may send to this candidate (e.g. a
    # provider's ``top_k``); forwarded only when every candidate a request can reach lists them.
    extra_params: list[str] = Field(default_factory=list)
    # embedding: served only by POST /v1/embeddings (named directly, never routed, in no policy).
    kind: Literal["chat", "embedding"] = "chat"


class PolicySpec(_Strict):
    candidates: list[str] = Field(min_length=1)
    threshold: float = Field(ge=0, le=1)
    fallback: str
    profile_size: int = Field(default=256, gt=0)
    strategy: Literal["threshold", "utility"] = "threshold"
    lambda_: float = Field(default=0.5, ge=0, alias="lambda")
    expected_output_tokens: int = Field(default=256, ge=0)
    # Exploration: with this probability a uniformly drawn candidate answers instead of the
    # decision's choice (logged with its propensity, for unbiased replay of other policies).
    explore: float = Field(default=0.0, ge=0, le=1)
    # Where a request goes when the scoring queue is full (a burst beyond V0_SCORING_QUEUE_MAX):
    # this candidate; unset: the candidate this policy chose most often among its last scored
    # decisions (the cheaper on a tie), else ``fallback``. See router/plan.py (RecentChoices).
    overload_fallback: str | None = None
    window: WindowSpec = Field(default_factory=WindowSpec)
    affinity: AffinitySpec = Field(default_factory=AffinitySpec)
    grading: GradingOverride | None = None  # replaces the file's grading settings for this policy
    # Spend target (router/spend.py): the threshold moves within threshold_bounds so that realised
    # cost holds this share of always using the fallback (the strongest candidate), or this USD
    # per 1,000 answered requests. At most one of the two.
    target_cost_share: float | None = Field(default=None, gt=0, le=1)
    target_usd_per_1k: float | None = Field(default=None, gt=0)
    threshold_bounds: tuple[float, float] = (0.0, 1.0)


class PolicyFile(_Strict):
    default_policy: str
    candidates: dict[str, CandidateSpec] = Field(min_length=1)
    policies: dict[str, PolicySpec] = Field(min_length=1)
    # Requested model names served as another: e.g. claude-sonnet-4-5: router/balanced (or auto, or a
    # candidate), so clients that send fixed names get routed without changes.
    aliases: dict[str, str] = Field(default_factory=dict)
    grading: GradingSpec | None = None  # None: no judge, no shadow calls
    feedback: FeedbackSpec = Field(default_factory=FeedbackSpec)


@dataclass(frozen=True)
class Prices:
    input_per_token: float  # USD
    output_per_token: float  # USD


@dataclass(frozen=True)
class Policies:
    """A validated policies file with every candidate's prices resolved."""

    path: str
    spec: PolicyFile
    prices: dict[str, Prices]

    @property
    def candidates(self) -> dict[str, CandidateSpec]:
        return self.spec.candidates

    @property
    def policies(self) -> dict[str, PolicySpec]:
        return self.spec.policies

    def resolve_alias(self, model: str) -> str:
        """The model an alias stands for (``aliases:``), else ``model`` itself."""
        return self.spec.aliases.get(model, model)

    def grading_for(self, policy: str | None) -> GradingSpec | None:
        """The grading settings for a policy's requests (None: grading is off); ``policy`` None
        (a candidate named directly) gets the file's."""
        base = self.spec.grading
        spec = self.spec.policies.get(policy) if policy is not None else None
        if base is None or spec is None:
            return base
        return base.merged(spec.grading)

    def policy_name_for(self, model: str) -> str | None:
        """'auto' -> default policy name, 'router/<name>' -> name, anything else -> None
        (aliases resolved first)."""
        model = self.resolve_alias(model)
        if model == AUTO_MODEL:
            return self.spec.default_policy
        if model.startswith(POLICY_PREFIX):
            return model[len(POLICY_PREFIX):]
        return None


def load_policies(path: str | Path) -> Policies:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(path, None, f"cannot read file: {exc}") from exc
    return parse_policies(text, path=path)


def parse_policies(text: str, *, path: str | Path = "policies.yaml") -> Policies:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PolicyError(path, line, f"invalid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    lines = _line_index(node) if node is not None else {}
    if not isinstance(data, dict):
        raise PolicyError(path, 1, "top level must be a mapping")
    try:
        spec = PolicyFile.model_validate(data)
    except ValidationError as exc:
        # Prefer an error whose exact location is in the file (a typo'd key over the missing one).
        errors = sorted(exc.errors(), key=lambda e: tuple(str(p) for p in e["loc"]) not in lines)
        err = errors[0]
        loc = tuple(str(p) for p in err["loc"])
        raise PolicyError(path, _line_for(lines, loc), f"{'.'.join(loc) or '(top)'}: {err['msg']}") from exc
    _check_references(spec, path, lines)
    prices = {name: _resolve_prices(name, c, path, lines) for name, c in spec.candidates.items()}
    return Policies(path=str(path), spec=spec, prices=prices)


def _check_references(spec: PolicyFile, path: str | Path, lines: dict[tuple[str, ...], int]) -> None:
    def fail(loc: tuple[str, ...], reason: str) -> None:
        raise PolicyError(path, _line_for(lines, loc), reason)

    for name, cand in spec.candidates.items():
        if name == AUTO_MODEL or name.startswith(POLICY_PREFIX):
            fail(("candidates", name), f"candidate name {name!r} is reserved")
        for i, param in enumerate(cand.extra_params):
            if reason := forbidden_extra_param(param):
                fail(("candidates", name, "extra_params", str(i)), f"candidate {name!r}: {reason}")
    if spec.grading is not None and spec.grading.judge not in spec.candidates:
        fail(("grading", "judge"), f"grading: judge {spec.grading.judge!r} is not a candidate")
    if spec.default_policy not in spec.policies:
        fail(("default_policy",), f"default_policy {spec.default_policy!r} is not a defined policy")
    for pname, policy in spec.policies.items():
        for i, cname in enumerate(policy.candidates):
            if cname not in spec.candidates:
                fail(("policies", pname, "candidates", str(i)), f"policy {pname!r}: unknown candidate {cname!r}")
            if spec.candidates[cname].kind != "chat":
                fail(("policies", pname, "candidates", str(i)),
                     f"policy {pname!r}: {cname!r} is an embedding candidate (never routed)")
        if len(set(policy.candidates)) != len(policy.candidates):
            fail(("policies", pname, "candidates"), f"policy {pname!r}: duplicate candidates")
        override = policy.grading
        if override is not None and spec.grading is None:
            fail(("policies", pname, "grading"), f"policy {pname!r}: grading needs the file's grading section")
        if override is not None and override.judge is not None and override.judge not in spec.candidates:
            fail(("policies", pname, "grading", "judge"), f"policy {pname!r}: judge {override.judge!r} is not a candidate")
        if policy.overload_fallback is not None and policy.overload_fallback not in policy.candidates:
            fail(("policies", pname, "overload_fallback"),
                 f"policy {pname!r}: overload_fallback {policy.overload_fallback!r} is not one of its candidates")
        if policy.target_cost_share is not None and policy.target_usd_per_1k is not None:
            fail(("policies", pname, "target_usd_per_1k"),
                 f"policy {pname!r}: set target_cost_share or target_usd_per_1k, not both")
        low, high = policy.threshold_bounds
        if not 0 <= low <= high <= 1:
            fail(("policies", pname, "threshold_bounds"),
                 f"policy {pname!r}: threshold_bounds must be [low, high] with 0 <= low <= high <= 1")
        if policy.fallback not in policy.candidates:
            fail(("policies", pname, "fallback"),
                 f"policy {pname!r}: fallback {policy.fallback!r} is not one of its candidates")
    for alias, target in spec.aliases.items():
        if alias == AUTO_MODEL or alias.startswith(POLICY_PREFIX) or alias in spec.candidates:
            fail(("aliases", alias), f"alias {alias!r} would hide a policy or candidate name")
        known = target == AUTO_MODEL or target in spec.candidates or \
            (target.startswith(POLICY_PREFIX) and target[len(POLICY_PREFIX):] in spec.policies)
        if not known:
            fail(("aliases", alias), f"alias {alias!r}: {target!r} is not auto, router/<policy> or a candidate")


# Call controls LiteLLM takes from its keyword arguments besides its own params table: where and how
# to call (credentials, endpoints, headers, retries, fallbacks, fabricated answers).
_CALL_CONTROLS = frozenset({"base_url", "api_base", "api_key", "api_version", "organization", "timeout",
                            "extra_headers", "extra_body", "extra_query", "headers", "drop_params",
                            "additional_drop_params", "user_config", "deployment_id", "model_list",
                            # read from kwargs by providers or LiteLLM's own plumbing, outside its params table
                            "callbacks", "success_callback", "failure_callback", "api_type", "proxy",
                            "http_client", "aiohttp_session", "shared_session", "client", "project_id",
                            "api_region", "region_name", "bucket_name", "litellm_params"})
# Families of call controls: provider credentials and locations, LiteLLM's mocks and internals.
_CONTROL_PREFIXES = ("mock_", "aws_", "vertex_", "azure_", "litellm_", "watsonx_", "sagemaker_", "bedrock_",
                     "databricks_", "oci_")
_CONTROL_SUFFIXES = ("_key", "_secret", "_token", "_url", "_base", "_endpoint", "_credentials", "_password")


def forbidden_extra_param(param: str) -> str | None:
    """Why ``param`` cannot be an ``extra_params`` entry (None when it can)."""
    from router.litellm_setup import litellm_module

    all_litellm_params = litellm_module().types.utils.all_litellm_params

    from router.protocol import ChatCompletionRequest

    if param in ChatCompletionRequest.model_fields:
        return f"{param!r} is an OpenAI chat parameter already (no need to list it)"
    if (param in _CALL_CONTROLS or param in all_litellm_params or param.startswith(_CONTROL_PREFIXES)
            or param.endswith(_CONTROL_SUFFIXES)):
        return f"{param!r} is a LiteLLM call control and can never come from a client"
    return None


def _resolve_prices(name: str, cand: CandidateSpec, path: str | Path,
                    lines: dict[tuple[str, ...], int]) -> Prices:
    """Explicit prices win; otherwise LiteLLM's (local) cost map."""
    inp, out = cand.input_price, cand.output_price
    if inp is None or out is None:
        info = _litellm_cost_entry(cand.model)
        if info is None:
            raise PolicyError(path, _line_for(lines, ("candidates", name, "model")),
                              f"candidate {name!r}: no input_price/output_price and LiteLLM's cost map "
                              f"has no entry for {cand.model!r}")
        inp = inp if inp is not None else info["input_cost_per_token"] * 1e6
        out = out if out is not None else info["output_cost_per_token"] * 1e6
    return Prices(input_per_token=inp / 1e6, output_per_token=out / 1e6)


def _litellm_cost_entry(model: str) -> dict[str, float] | None:
    from router.litellm_setup import litellm_module

    litellm = litellm_module()  # heavy; imported only when a price must be looked up

    for key in (model, model.split("/", 1)[-1]):
        info = litellm.model_cost.get(key)
        if info and "input_cost_per_token" in info and "output_cost_per_token" in info:
            return {"input_cost_per_token": float(info["input_cost_per_token"]),
                    "output_cost_per_token": float(info["output_cost_per_token"])}
    return None


def _line_index(node: yaml.Node, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Map every key path in the YAML document to its 1-based line."""
    out: dict[tuple[str, ...], int] = {prefix: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = prefix + (str(key.value),)
            out.update(_line_index(value, path))
            out[path] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.update(_line_index(item, prefix + (str(i),)))
    return out


def _line_for(lines: dict[tuple[str, ...], int], loc: tuple[Any, ...]) -> int | None:
    loc = tuple(str(p) for p in loc)
    while loc not in lines and loc:
        loc = loc[:-1]
    return lines.get(loc)
