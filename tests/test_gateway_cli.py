"""The v0-gateway CLI: subcommands, lazy imports, and `migrate` on a real database."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from router import cli


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
    assert set(sa.inspect(engine).get_table_names()) == {"alembic_version", "decision"}
    engine.dispose()
