"""A new candidate onboarded: `v0-gateway profile build` and POST /admin/profiles/{model}/build send
the shipped prompt set to the candidate through the gateway's LiteLLM path (a loopback upstream),
grade the answers with the loopback judge and write the profile; the cost is shown before
anything is sent, a second run resumes, and a candidate without a profile is flagged in /readyz
and /admin/status until it has one."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from bench.loopback import JUDGE_GRADE
from gateway_support import engine_for, wait_until
from profiles_support import admin, start_v0_gateway, upload
from router.cli import main
from router.grading.build import prompt_set


def policies(base: str) -> str:
    def cand(model: str, price: float) -> str:
        return (f"    model: openai/{model}\n    api_base: {base}\n    input_price: {price}\n"
                f"    output_price: {price}\n    timeout: 5\n    num_retries: 0\n")

    return ("default_policy: main\ncandidates:\n"
            f"  cheap:\n{cand('fake-ok', 0.1)}  strong:\n{cand('fake-ok', 5.0)}  new:\n{cand('fake-ok', 1.0)}"
            f"  judge:\n{cand('fake-judge', 2.0)}"
            "policies:\n  main:\n    candidates: [cheap, new, strong]\n    threshold: 0.5\n    fallback: strong\n"
            "    profile_size: 24\n"
            "grading:\n  judge: judge\n  sample_rate: 0\n")


def built(url: str) -> list[tuple]:
    with engine_for(url).connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT model, source, score FROM profile_row ORDER BY id"))]


def test_the_cli_shows_the_cost_builds_and_resumes(fresh_database, tmp_path, upstream, capsys):
    path = tmp_path / "policies.yaml"
    path.write_text(policies(upstream.base_url))
    argv = ["profile", "build", "--candidate", "new", "--policies", str(path), "--database-url", fresh_database]
    before = len(upstream.requests)
    assert main(argv + ["--limit", "6", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("new: 6 prompts to send (0 already built), judged by judge; at most $")
    assert len(upstream.requests) == before and built(fresh_database) == []

    assert main(argv + ["--limit", "6", "--yes"]) == 0
    out = capsys.readouterr()
    assert "6/6 sent, 6 graded, 0 failed" in out.err
    assert out.out.splitlines()[-1].startswith("new: 6 rows written, 0 failed (run again to retry them), $")
    assert built(fresh_database) == [("new", "build", JUDGE_GRADE)] * 6
    sent = upstream.requests[before:]
    assert [b["model"] for b in sent].count("fake-judge") == 6 and len(sent) == 12
    assert {b["messages"][0]["content"] for b in sent if b["model"] == "fake-ok"} == set(prompt_set()[:6])
    assert all(b["max_tokens"] == 512 for b in sent if b["model"] == "fake-ok")

    assert main(argv + ["--limit", "10", "--yes"]) == 0  # resumes: only the 4 prompts not built yet
    assert capsys.readouterr().out.startswith("new: 4 prompts to send (6 already built)")
    assert len(built(fresh_database)) == 10 and len(upstream.requests) - before == 20

    assert main(["profile", "build", "--candidate", "nobody", "--policies", str(path), "--database-url",
                 fresh_database]) == 2
    assert "Unknown candidate 'nobody'" in capsys.readouterr().err


@pytest.mark.parametrize("fresh_database", ["sqlite"], indirect=True)
def test_the_admin_endpoint_builds_and_the_flag_clears(v0, feature_cache, fresh_database, serve_app, tmp_path,
                                                       upstream):
    served = start_v0_gateway(serve_app, tmp_path, fresh_database, policies(upstream.base_url),
                              v0=v0.with_head("knn"), features=feature_cache, profile_refresh_s=0.1)
    rows = [(f"question {i}", float(i % 2)) for i in range(24)]
    for model in ("cheap", "strong"):
        assert upload(served, model, rows).status_code == 201
    assert httpx.get(served.base_url + "/readyz").json()["unprofiled_candidates"] == ["new"]
    assert admin(served, "GET", "/admin/status").json()["profiles"]["unprofiled"] == ["new"]

    plan = admin(served, "POST", "/admin/profiles/new/build", json={"limit": 16, "dry_run": True})
    assert plan.status_code == 200 and (plan.json()["to_send"], plan.json()["already_built"]) == (16, 0)
    assert plan.json()["estimate_usd"] == pytest.approx(plan.json()["candidate_usd"] + plan.json()["judge_usd"])
    r = admin(served, "POST", "/admin/profiles/new/build", json={"limit": 16})
    assert r.status_code == 202 and r.json()["to_send"] == 16
    done = wait_until(lambda: (p := admin(served, "GET", "/admin/profiles/new/build").json())["state"] == "done" and p,
                      timeout=60)
    assert (done["total"], done["sent"], done["graded"], done["failed"]) == (16, 16, 16, 0)
    assert [r for r in built(fresh_database) if r[0] == "new"] == [("new", "build", JUDGE_GRADE)] * 16
    wait_until(lambda: httpx.get(served.base_url + "/readyz").json()["unprofiled_candidates"] == [])
    summary = next(p for p in admin(served, "GET", "/admin/profiles").json() if p["model"] == "new")
    assert (summary["rows"], summary["built"]) == (16, 16)
    again = admin(served, "POST", "/admin/profiles/new/build", json={"limit": 16, "dry_run": True}).json()
    assert (again["to_send"], again["already_built"]) == (0, 16)
    assert admin(served, "POST", "/admin/profiles/nobody/build", json={}).status_code == 404
    assert admin(served, "GET", "/admin/profiles/cheap/build").status_code == 404
