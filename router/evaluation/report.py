"""Writing the routing benchmark's results: results.json, a markdown table, a PNG plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from router.evaluation.aiq import nondecreasing_hull

COLUMNS = (
    ("aiq", "AIQ"),
    ("cost_pct_at_strongest_quality", "cost % at strongest quality"),
    ("quality_at_10pct", "quality @10% cost"),
    ("quality_at_25pct", "quality @25% cost"),
    ("best_quality", "best quality"),
)


def _fmt(key: str, value) -> str:
    if value is None:
        return "—"
    if key == "cost_pct_at_strongest_quality":
        return f"{value:.1f}%"
    return f"{value:.4f}"


def markdown_table(results: dict) -> str:
    lines = [
        "| router | " + " | ".join(title for _, title in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    rows = sorted(results["routers"].items(), key=lambda kv: -(kv[1].get("aiq") or -1.0))
    for name, r in rows:
        if not r.get("available", True):
            lines.append(f"| {name} | unavailable: {r['reason']} |" + " |" * (len(COLUMNS) - 1))
            continue
        lines.append(f"| {name} | " + " | ".join(_fmt(k, r.get(k)) for k, _ in COLUMNS) + " |")
    notes = [
        "",
        f"{results['n_eval_prompts']} evaluation prompts; strongest single model: "
        f"{results['strongest_model']}. {results['cost_normalisation']}",
        f"AIQ: {results['aiq_definition']}",
        f"Cost: {results['cost_source']}.",
        f"Split: {results['split']}",
    ]
    if results.get("cost_pct_note"):
        notes.append(results["cost_pct_note"])
    return "\n".join(lines + notes) + "\n"


def plot(path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], singles: dict[str, tuple[float, float]], title: str) -> None:
    """curves: name -> (normalised cost points, quality points); drawn as points plus hull."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6), dpi=120)
    for name, (c, q) in curves.items():
        h = nondecreasing_hull(c, q)
        xs = np.append(h.cost, max(1.0, h.cost[-1]))
        ys = np.append(h.quality, h.quality[-1])
        (line,) = ax.plot(xs, ys, label=name, linewidth=1.6)
        if len(c) <= 500:  # operating points; mapping families (thousands of points) only as hulls
            ax.scatter(c, q, s=6, color=line.get_color(), alpha=0.35)
    for name, (c, q) in singles.items():
        ax.scatter([c], [q], marker="x", color="black", s=25)
        ax.annotate(name.split("/")[-1], (c, q), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set_xlabel("cost per request / cost of the most expensive single model")
    ax.set_ylabel("mean quality")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(out: Path, results: dict, curves, singles, title: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(results))
    plot(out / "cost_quality.png", curves, singles, title)
