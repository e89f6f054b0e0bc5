"""A tiny graded dataset in the shared-data format, for the value-model tests."""

from __future__ import annotations

import json
from pathlib import Path

TOPICS = ["arithmetic", "poetry", "geography", "chemistry"]


def write_tiny_dataset(root: Path) -> Path:
    """80 prompts, 4 models; model j succeeds on topic j and j+1. Returns ``root`` (holding ``tiny/``)."""
    ds = root / "tiny"
    ds.mkdir()
    rows, lines = ["prompt_id,model,score"], []
    for i in range(80):
        topic = i % 4
        lines.append(json.dumps({"prompt_id": f"q{i}", "task": TOPICS[topic], "prompt": f"A question about {TOPICS[topic]} number {i}"}))
        for j in range(4):
            rows.append(f"q{i},model{j},{1.0 if topic in (j, (j + 1) % 4) else 0.0}")
    (ds / "prompts.jsonl").write_text("\n".join(lines) + "\n")
    (ds / "outcomes.csv").write_text("\n".join(rows) + "\n")
    return root
