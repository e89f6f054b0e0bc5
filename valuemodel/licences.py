"""The data sources this project knows, their licences, and which of them may ship.

Shipped artefacts (the default weights in ``valuemodel/weights/`` and the default profiles in
``router/data/profiles/``) may only be built from sources whose licence allows commercial
redistribution (``ships``); the others are for evaluation and research runs that ship nothing.
``tests/test_licences.py`` fails when a shipped artefact names a source outside ``SHIPPABLE``.
docs/LICENCES.md is the same table for readers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    name: str  # dataset folder name
    licence: str
    origin: str  # where the licence was checked
    feeds: str  # what it is used for in this project
    ships: bool  # may feed shipped weights and default profiles
    aliases: tuple[str, ...] = ()  # other ways a text names it (lower case), for the notice checks


# The order is part of the training recipe: a training run holds out each dataset's validation
# prompts with seed ``seed + row`` (``split_index``), so leaving a source out of a run does not
# move the other sources' held-out prompts.
SOURCES: tuple[Source, ...] = (
    Source("llmrouter_dcrouter9", "MIT", "github.com/ulab-uiuc/LLMRouter: LICENSE (data/dcrouter_preprocessed)",
           "shipped weights (adapter, difficulty regressor), default profiles, threshold calibration", True),
    Source("routellm_2model", "Apache-2.0", "github.com/lm-sys/RouteLLM: LICENSE, pyproject.toml (routellm/evals)",
           "shipped weights (adapter, difficulty regressor)", True),
    Source("alpacaeval2_wgpt4t", "CC BY-NC 4.0",
           "huggingface.co/datasets/tatsu-lab/alpaca_eval: dataset card (only the code is Apache-2.0)",
           "evaluation and research only (non-commercial)", False, ("alpaca",)),
    Source("dapomath", "Apache-2.0", "github.com/Now-Join-Us/V0 (the V0 paper's repository): LICENSE (data/)",
           "shipped weights (context rows only); train/validity rows are evaluation", True),
    Source("routerbench_train", "none stated", "github.com/shuhao02/RouterDC (datasets/routerbench_zs): no licence file",
           "evaluation and research only (routing AIQ, value quality)", False, ("routerbench",)),
    Source("routerdc_7x7b", "none stated", "github.com/shuhao02/RouterDC (datasets/split2_model7): no licence file",
           "evaluation and research only", False, ("routerdc",)),
)

SHIPPABLE: tuple[str, ...] = tuple(s.name for s in SOURCES if s.ships)
KNOWN: dict[str, Source] = {s.name: s for s in SOURCES}


def split_index(name: str, position: int) -> int:
    """The seed offset of a dataset's validation split: its row in ``SOURCES``, else ``position``
    (its place in the run's dataset list) for a dataset this table does not know."""
    return next((i for i, s in enumerate(SOURCES) if s.name == name), position)


def not_shippable(names) -> list[str]:
    """The names among ``names`` that no shipped artefact may be built from, sorted."""
    return sorted({n for n in names if n not in SHIPPABLE})


def checkpoint_sources(config: dict) -> set[str]:
    """Every data source a checkpoint's ``config.json`` records: the adapter run's datasets and the
    difficulty regressor's sources, outputs, prompt counts and neighbour sources."""
    names = set(config.get("training", {}).get("datasets", []))
    d = config.get("difficulty_training", {})
    names |= set(d.get("sources", [])) | set(d.get("prompts", {})) | set((d.get("neighbours") or {}).get("sources", []))
    return names | {o.removeprefix("neighbours:") for o in d.get("outputs", []) if o != "pooled"}
