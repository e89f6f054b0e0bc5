"""GET /dashboard in a real headless Chromium (Debian's ``chromium``) against a live gateway with
traffic and grades: the admin key travels in the URL fragment (never to the server), the page
fetches the JSON endpoints with it and renders their numbers. ``V0_DASHBOARD_SCREENSHOT=path``
also saves a screenshot there (docs/dashboard.png was made so)."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from console_support import ADMIN_KEY, admin, make_traffic, start_console

CHROMIUM = shutil.which("chromium")


class Cells(HTMLParser):
    """Every element's attributes and text, for lookups by id and data-* attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[dict[str, str | None], list[str]]] = []
        self.open: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        text: list[str] = []
        self.found.append((dict(attrs), text))
        if tag not in ("br", "input", "meta", "link", "img"):
            self.open.append(text)

    def handle_endtag(self, tag: str) -> None:
        if self.open:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        for text in self.open:
            text.append(data)

    def values(self, **attrs: str) -> list[str | None]:
        return [a.get("data-value") for a, _ in self.found if all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]


def chromium(url: str, *args: str) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           "--virtual-time-budget=20000", "--window-size=1400,2200", *args, url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
@pytest.mark.parametrize("fresh_database", ["sqlite"], indirect=True)
def test_dashboard_renders_the_api_numbers_in_chromium(fresh_database, serve_app, tmp_path, upstream):
    served = start_console(serve_app, tmp_path, fresh_database, upstream)
    make_traffic(served, fresh_database)
    stats = admin(served, "GET", "/admin/stats").json()
    replay = admin(served, "POST", "/admin/replay", json={"policy": "balanced", "threshold": 0}).json()
    url = f"{served.base_url}/dashboard#key={ADMIN_KEY}&replay_policy=balanced&threshold=0"

    dom = Cells()
    dom.feed(chromium(url, "--dump-dom"))
    body = next(a for a, _ in dom.found if "data-loaded" in a or "data-replayed" in a)
    assert (body.get("data-loaded"), body.get("data-replayed")) == ("true", "true")
    for field in ("requests", "errors", "graded", "cost_usd", "baseline_cost_usd", "savings_usd", "judge_cost_usd",
                  "shadow_cost_usd"):
        assert [float(v) for v in dom.values(id=f"stat-{field}")] == [stats[field]], field
    for model, m in stats["by_model"].items():
        rows = [a for a, _ in dom.found if a.get("data-model") == model]
        assert rows, model
    shown = {a.get("data-value") for a, _ in dom.found if a.get("data-value") is not None}
    for model, m in stats["by_model"].items():
        assert {str(m["requests"]), repr(m["share"])} <= shown, model
    ok = stats["calibration"]["ok"]
    assert {repr(ok["predicted_mean"]), repr(ok["observed_mean"]), repr(ok["ece"]), "false"} <= shown
    for field in ("n_decisions", "changed", "cost_usd", "predicted_quality"):
        assert [float(v) for v in dom.values(data_field=field)] == [replay[field]], field
    texts = {"".join(t).strip() for _, t in dom.found}
    assert f"${stats['cost_usd']:.6f}" in texts and str(stats["requests"]) in texts
    assert ADMIN_KEY not in "".join("".join(t) for _, t in dom.found)

    shot = tmp_path / "dashboard.png"
    chromium(url, f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if target := os.environ.get("V0_DASHBOARD_SCREENSHOT"):
        shutil.copyfile(shot, Path(target))
