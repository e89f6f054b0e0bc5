"""The v0-gateway CLI: subcommands, lazy imports, and `migrate` on a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest
import sqlalchemy as sa

from bench.loopback import free_port
from gateway_support import get_decision, wait_until
from router import cli
from router.migrate import upgrade


def test_only_the_chosen_subcommand_is_imported():
    code = ("import sys; from router import cli; p = cli.build_parser(('migrate',)); "
            "a = p.parse_args(['migrate', '--revision', 'head']); "
            "print(a._command, a.revision, 'router.serve' in sys.modules, 'litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["('migrate',)", "head", "False", "False"]


def test_serve_arguments_and_defaults():
    args = cli.build_parser(("serve",)).parse_args(["serve", "--port", "9001"])
    assert (args._command, args.host, args.port, args.policies) == (("serve",), None, 9001, None)
    from router.settings import Settings
    assert (Settings().host, Settings().port) == ("127.0.0.1", 8000)


def test_nested_bench_commands_are_registered():
    parser = cli.build_parser(None)
    assert parser.parse_args(["bench", "routing"])._command == ("bench", "routing")
    assert parser.parse_args(["calibrate"])._command == ("calibrate",)
    with pytest.raises(SystemExit):
        parser.parse_args(["bench"])


def test_migrate_command_upgrades_database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("V0_DATABASE_URL", url)
    assert cli.main(["migrate"]) == 0
    engine = sa.create_engine(url)
    assert set(sa.inspect(engine).get_table_names()) == {"alembic_version", "decision", "profile_row",
                                                          "profile_version", "client_key", "gateway_meta",
                                                          "profile_feature", "grade"}
    engine.dispose()


def test_serve_command_with_repository_policies(tmp_path, upstream):
    """`v0-gateway serve` as a process, the repo's policies.yaml pointed at the loopback upstream."""
    repo = Path(__file__).resolve().parents[1]
    url, port = f"sqlite:///{tmp_path}/serve.db", free_port()
    upgrade(url)
    # The NIM candidates pointed at the loopback upstream; the stand-in scorer keeps the start fast
    # (V0 with the default profiles out of the box: test_profiles_defaults.py).
    env = {**os.environ, "NVIDIA_NIM_API_BASE": upstream.base_url, "NVIDIA_NIM_API_KEY": "x",
           "V0_DATABASE_URL": url, "V0_POLICIES": str(repo / "policies.yaml"), "V0_SCORER": "stand-in"}
    proc = subprocess.Popen([sys.executable, "-m", "router.cli", "serve", "--port", str(port)], env=env,
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
            except httpx.TransportError:
                assert proc.poll() is None, "server exited"
                return False

        wait_until(up, timeout=60, interval=0.2)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "Hello there"}])
        assert raw.parse().choices[0].message.content == "echo: Hello there"
        # stand-in: P 0.6 for the cheapest (gemma-2-9b-it), under balanced's threshold (0.687); 0.75
        # for the two next-cheapest (equal prices), which clear it -> the first of them in the policy
        assert raw.headers["x-v0-model"] == raw.parse().model == "qwen2.5-7b-instruct"
        row = wait_until(lambda: get_decision(url, raw.headers["x-v0-decision-id"]))
        assert (row.policy, row.chosen_model, row.status) == ("balanced", "qwen2.5-7b-instruct", "ok")
        assert upstream.requests[-1]["model"] == "qwen/qwen2.5-7b-instruct"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
