"""Shared-data loading (plain and DAPO-Math layouts), prompt-disjoint split, Intra-AUC."""

import json
import math

import numpy as np
import pytest

from valuemodel.data import load_dataset, split_by_prompt
from valuemodel.metrics import auc, intra_auc


def write_plain(root, n=10):
    root.mkdir()
    with (root / "prompts.jsonl").open("w") as f:
        for i in range(n):
            f.write(json.dumps({"prompt_id": f"p{i}", "task": "t", "split": "train", "prompt": f"prompt {i}"}) + "\n")
    rows = ["prompt_id,model,score,cost_usd"] + [f"p{i},m{j},{(i + j) % 2},0.001" for i in range(n) for j in range(2)]
    (root / "outcomes.csv").write_text("\n".join(rows) + "\n")
    (root / "models.csv").write_text("model,usd_per_1M_in,usd_per_1M_out\nm0,0.2,0.4\nm1,1.0,2.0\n")
    return root


def test_plain_layout(tmp_path):
    ds = load_dataset(write_plain(tmp_path / "plain"))
    assert ds.name == "plain"
    assert len(ds.prompts) == 10 and ds.tasks["p3"] == "t"
    assert list(ds.outcomes.columns) == ["prompt_id", "model", "score", "cost_usd"]
    assert ds.models == ["m0", "m1"]
    assert ds.prices == {"m0": (0.2, 0.4), "m1": (1.0, 2.0)}


def test_dapomath_layout(tmp_path):
    root = tmp_path / "dapomath"
    root.mkdir()
    (root / "prompts.jsonl").write_text(
        "".join(json.dumps({"prompt_id": f"d{i}", "task": "dapomath", "prompt": f"math {i}"}) + "\n" for i in range(4))
    )
    (root / "context.csv").write_text("prompt_id,policy,step,score\nd0,P,16,-1.0\nd1,P,16,0.5\n")
    (root / "train.csv").write_text("prompt_id,policy,step,score\nd2,P,16,1.0\n")
    (root / "validity.csv").write_text("prompt_id,policy,step,score\nd3,P,64,0.0\n")
    ds = load_dataset(root)
    o = ds.outcomes.set_index("prompt_id")
    assert o.loc["d0", "model"] == "P@16" and o.loc["d3", "model"] == "P@64"
    assert o["score"].tolist() == [0.0, 0.75, 1.0, 0.5]
    assert o["part"].tolist() == ["context", "context", "train", "validity"]
    assert ds.prices is None


def test_split_by_prompt_is_disjoint_and_seeded(tmp_path):
    ds = load_dataset(write_plain(tmp_path / "plain", n=20))
    a, b = split_by_prompt(ds, 0.25, seed=3)
    assert len(set(a.outcomes.prompt_id)) == 5 and len(set(b.outcomes.prompt_id)) == 15
    assert not set(a.prompts) & set(b.prompts)
    a2, _ = split_by_prompt(ds, 0.25, seed=3)
    assert set(a2.prompts) == set(a.prompts)


def test_missing_dataset_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="prompts.jsonl"):
        load_dataset(tmp_path)


def test_intra_auc():
    assert auc([0.1, 0.9, 0.8, 0.2], [0, 1, 1, 0]) == 1.0
    assert auc([0.9, 0.1], [0.2, 0.7]) == 0.0  # scores binarised at 0.5
    assert math.isnan(auc([0.3, 0.4], [1, 1]))
    mean, per = intra_auc({"a": ([0.1, 0.9], [0, 1]), "b": ([0.9, 0.1], [0, 1]), "c": ([0.5], [1])})
    assert per["a"] == 1.0 and per["b"] == 0.0 and np.isnan(per["c"])
    assert mean == 0.5
