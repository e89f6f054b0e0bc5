"""Shipped artefacts name only data sources whose licence allows shipping (valuemodel/licences.py),
and docs/LICENCES.md shows the same table."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from valuemodel import difficulty_train
from valuemodel.licences import KNOWN, SHIPPABLE, SOURCES, checkpoint_sources, not_shippable, split_index
from valuemodel.train_config import LICENSED_DATASETS, TrainConfig

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "router" / "data" / "profiles"
PERMISSIVE = {"MIT", "Apache-2.0", "BSD-3-Clause", "CC BY 4.0", "CC0 1.0"}


def test_the_table_allows_only_permissive_licences_to_ship():
    assert SHIPPABLE == ("llmrouter_dcrouter9", "routellm_2model", "dapomath")
    assert all(s.licence in PERMISSIVE for s in SOURCES if s.ships)
    assert {s.name: s.licence for s in SOURCES if not s.ships} == {
        "alpacaeval2_wgpt4t": "CC BY-NC 4.0", "routerbench_train": "none stated", "routerdc_7x7b": "none stated"}
    assert not_shippable(["dapomath", "alpacaeval2_wgpt4t", "mine", "dapomath"]) == ["alpacaeval2_wgpt4t", "mine"]


def test_docs_table_matches_the_module():
    text = (REPO / "docs" / "LICENCES.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| (yes|no) \|$", text, flags=re.M)
    assert [(n, lic.strip(), ships == "yes") for n, lic, _, _, ships in rows] == \
        [(s.name, s.licence, s.ships) for s in SOURCES]
    assert [feeds.strip() for *_, feeds, _ in rows] == [s.feeds for s in SOURCES]


def test_training_defaults_read_the_table():
    assert LICENSED_DATASETS == TrainConfig().datasets == list(SHIPPABLE)
    parser = argparse.ArgumentParser()
    difficulty_train.add_arguments(parser)
    assert parser.parse_args(["--data", "d", "--weights", "w"]).datasets == list(SHIPPABLE)


def test_split_seeds_do_not_move_when_a_source_is_left_out():
    assert [split_index(n, i) for i, n in enumerate(["llmrouter_dcrouter9", "routellm_2model", "dapomath"])] == [0, 1, 3]
    assert split_index("my_own_set", 5) == 5


def test_checkpoint_sources_reads_every_place_a_config_names_data():
    config = {"training": {"datasets": ["dapomath"]},
              "difficulty_training": {"sources": ["routellm_2model"], "prompts": {"llmrouter_dcrouter9": 3},
                                      "outputs": ["routellm_2model", "neighbours:routerbench_train"],
                                      "neighbours": {"sources": ["alpacaeval2_wgpt4t"]}}}
    assert checkpoint_sources(config) == {"dapomath", "routellm_2model", "llmrouter_dcrouter9", "routerbench_train",
                                          "alpacaeval2_wgpt4t"}
    assert checkpoint_sources({"difficulty_training": {"outputs": ["pooled"], "neighbours": None}}) == set()


@pytest.mark.parametrize("path", sorted(PROFILES.glob("*.jsonl")), ids=lambda p: p.name)
def test_default_profile_rows_name_a_shippable_source(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 256
    assert {r["source"] for r in rows} == {"llmrouter_dcrouter9"}


def test_profiles_notice_names_only_shippable_sources():
    notice = (PROFILES / "NOTICE").read_text().lower()
    named = {s.name for s in SOURCES if any(w in notice for w in (s.name, *s.aliases))}
    assert named == {"llmrouter_dcrouter9"}
    assert "mit license" in notice and KNOWN["llmrouter_dcrouter9"].licence == "MIT"


@pytest.mark.parametrize("config", sorted((REPO / "valuemodel" / "weights").glob("*/config.json")),
                         ids=lambda p: p.parent.name)
def test_shipped_weights_name_only_shippable_sources(config):
    raw = json.loads(config.read_text())
    names = checkpoint_sources(raw)
    assert not_shippable(names) == []
    assert names == set(raw["training"]["datasets"]) == set(SHIPPABLE)
