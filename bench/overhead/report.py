"""The figures of an overhead run, side by side: gateway vs LiteLLM proxy ratios, and the
results as Markdown tables (results.md)."""

from __future__ import annotations


def ratios(cells: list[dict]) -> dict:
    """Gateway vs LiteLLM proxy, same cell: p50 latency and overhead (p50) ratios, throughput ratios."""
    by = {(c["target"], c["stream"], c["concurrency"]): c for c in cells}
    out = {}
    for (target, stream, conc), c in by.items():
        if not target.startswith("gateway"):
            continue
        lp = by.get(("litellm-proxy", stream, conc))
        if not lp or c["overhead_p50_ms"] is None or lp["overhead_p50_ms"] in (None, 0):
            continue
        key = f"{target} {'stream' if stream else 'json'} c={conc}"
        out[key] = {
            "p50_ratio_vs_litellm": c["p50_ms"] / lp["p50_ms"],
            "overhead_p50_ratio_vs_litellm": c["overhead_p50_ms"] / lp["overhead_p50_ms"],
            "rps_ratio_vs_litellm": c["rps"] / lp["rps"] if lp["rps"] else None,
            "cpu_per_request_ratio_vs_litellm": (c["cpu_ms_per_request"] / lp["cpu_ms_per_request"]
                                                 if c.get("cpu_ms_per_request") and lp.get("cpu_ms_per_request") else None),
        }
    return out


def markdown(results: dict) -> str:
    rows = ["| target | stream | conc | n | err | p50 ms | p95 ms | p99 ms | TTFT p50 ms | req/s | overhead p50 ms | server CPU ms/req |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    f = lambda v, d=1: "—" if v is None else f"{v:.{d}f}"  # noqa: E731
    for c in results["cells"]:
        rows.append(f"| {c['target']} | {'yes' if c['stream'] else 'no'} | {c['concurrency']} | {c['n']} | {c['errors']} | "
                    f"{f(c['p50_ms'])} | {f(c['p95_ms'])} | {f(c['p99_ms'])} | {f(c['ttft_p50_ms'])} | {f(c['rps'])} | {f(c['overhead_p50_ms'])} | "
                    f"{f(c.get('cpu_ms_per_request'))} |")
    rows += ["", "| server | start s | RSS idle MiB | RSS peak MiB |", "|---|---:|---:|---:|"]
    for name, s in results["servers"].items():
        rows.append(f"| {name} | {s['start_s']} | {s['rss_idle_mib']} | {s.get('rss_peak_mib', '—')} |")
    if results.get("ratios"):
        rows += ["", "| gateway cell | p50 / LiteLLM's | overhead p50 / LiteLLM's | req/s / LiteLLM's | CPU per request / LiteLLM's |",
                 "|---|---:|---:|---:|---:|"]
        for k, r in results["ratios"].items():
            rows.append(f"| {k} | {f(r.get('p50_ratio_vs_litellm'), 2)} | {f(r['overhead_p50_ratio_vs_litellm'], 2)} | "
                        f"{f(r['rps_ratio_vs_litellm'], 2)} | "
                        f"{f(r.get('cpu_per_request_ratio_vs_litellm'), 2)} |")
    if results.get("routed_scorer"):
        rows += ["", f"Routed requests scored by: {results['routed_scorer']}"]
    rows += [f"Note: {n}" for n in results.get("notes", [])]
    return "\n".join(rows) + "\n"
