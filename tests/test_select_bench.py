"""`v0-gateway bench select` on a small DAPO-Math-shaped set with the real V0: the JSON's shape,
ties scored at their expectation (history with k = 0 is exactly random), the oracle on top."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from profiles_support import arithmetic, translation
from router.cli import main
from valuemodel.select_bench import top_value


def test_ties_are_scored_at_their_expectation() -> None:
    value = np.array([1.0, 2.0, 3.0, 4.0])
    assert top_value(np.array([0.0, 0.0, 0.0, 0.0]), value, 2).sum() == pytest.approx(5.0)  # half of 10
    assert top_value(np.array([1.0, 0.5, 0.5, 0.0]), value, 2).tolist() == [1.0, 1.0, 1.5, 0.0]


def write_set(root: Path) -> None:
    rng = np.random.default_rng(0)
    texts = {f"p{i}": (arithmetic(i) if i % 2 else translation(i)) for i in range(60)}
    root.mkdir()
    (root / "prompts.jsonl").write_text("".join(json.dumps({"prompt_id": k, "task": "t", "prompt": v}) + "\n"
                                                for k, v in texts.items()))
    for part, ids in (("context", list(texts)[:48]), ("train", list(texts)[48:])):
        lines = ["prompt_id,policy,step,score"]
        for policy in ("A", "B"):
            for i, pid in enumerate(ids):
                rate = rng.binomial(10, 0.15 if int(pid[1:]) % 2 else 0.6) / 10
                lines.append(f"{pid},{policy},16,{2 * rate - 1:.1f}")
        (root / f"{part}.csv").write_text("\n".join(lines) + "\n")


def test_bench_select_json(tmp_path: Path, capsys) -> None:
    data, out = tmp_path / "set", tmp_path / "select.json"
    write_set(data)
    assert main(["bench", "select", "--profiles", str(data), "--eval", str(data), "--profile-size", "16",
                 "--group-size", "8", "--pool-size", "12", "--folds", "2", "--repeats", "1",
                 "--history-draws", "2", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    methods = {"random", "v0", "v0_near_half", "oracle", *(f"{m}_k{k}" for m in ("history", "v0_history")
                                                           for k in (0, 2, 4))}
    for result, n in ((r, 96), (r["sets"]["train"], 24)):
        assert result["n_prompts"] == n
        for keep in ("keep_0.25", "keep_0.5", "keep_0.75"):
            groups = result[keep]
            assert set(groups) == methods
            assert groups["history_k0"] == pytest.approx(groups["random"], abs=1e-3)
            assert groups["v0_history_k0"] == groups["v0"]
            assert max(groups.values()) == groups["oracle"]
            assert result["ratio"][keep]["random"] == 1.0
            assert set(result["gain_over_history"][keep]) == {"k2", "k4"}
    assert set(r["prior"]) == {"A@16", "B@16"}
    assert "expected informative groups" in capsys.readouterr().out


def test_bench_select_on_a_separate_eval_set(tmp_path: Path) -> None:
    data, held, out = tmp_path / "set", tmp_path / "held", tmp_path / "held.json"
    write_set(data)
    held.mkdir()
    for name in ("prompts.jsonl", "train.csv"):  # held-out rows in DAPO-Math's layout
        (held / name).write_text((data / name).read_text())
    assert main(["bench", "select", "--profiles", str(data), "--eval", str(held), "--profile-size", "16",
                 "--pool-size", "12", "--folds", "2", "--repeats", "1", "--history-draws", "2",
                 "--history", "0", "2", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["n_prompts"] == 24 and "sets" not in r and r["note"].startswith("train rows of --eval")
    assert set(r["keep_0.25"]) == {"random", "v0", "v0_near_half", "oracle", "history_k0", "v0_history_k0",
                                   "history_k2", "v0_history_k2"}
    assert r["keep_0.5"]["history_k0"] == pytest.approx(r["keep_0.5"]["random"], abs=1e-3)
