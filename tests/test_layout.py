"""The layout rules that keep files readable in one sitting: no source file outside tests over
320 lines (the import rules are import-linter's contracts, run by `make test`)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 320


def test_no_source_file_over_the_limit():
    sources = [p for top in ("router", "valuemodel", "bench", "scripts", "migrations") for p in (ROOT / top).rglob("*.py")]
    assert len(sources) > 50
    too_long = {str(p.relative_to(ROOT)): n for p in sources if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert too_long == {}
