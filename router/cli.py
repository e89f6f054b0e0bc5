"""`v0-gateway` console script. Only the chosen subcommand's module is imported."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from router.litellm_setup import configure_litellm

# (command path) -> (module exposing add_arguments(parser) and run(args) -> int, help)
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("serve",): ("router.serve", "run the gateway (default 127.0.0.1:8000)"),
    ("migrate",): ("router.migrate", "apply database migrations (alembic upgrade head)"),
    ("prepare",): ("router.prepare", "build the V0 backbone's ONNX files (torch) and encode the default profiles ahead of the first start"),
    ("train",): ("valuemodel.train", "train the V0 value model"),
    ("train-difficulty",): ("valuemodel.difficulty_train", "fit the shared-difficulty head into a checkpoint"),
    ("bench", "value"): ("valuemodel.evaluate", "benchmark value-model quality"),
    ("bench", "routing"): ("router.evaluation.routing_bench", "benchmark routing quality"),
    ("bench", "online"): ("router.evaluation.online", "replay a stream: does routing learn the deployment"),
    ("bench", "allocate"): ("valuemodel.allocate_bench", "benchmark RL rollout budgets"),
    ("bench", "select"): ("valuemodel.select_bench", "benchmark RL prompt selection"),
    ("profile", "build"): ("router.grading.build_cli", "build a candidate's profile: the shipped prompts, graded by the judge"),
    ("calibrate",): ("router.evaluation.calibrate", "calibrate policy thresholds"),
}


def build_parser(selected: tuple[str, ...] | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="v0-gateway", description="V0 Gateway")
    top = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for path, (module, help_text) in COMMANDS.items():
        if len(path) == 1:
            sub = top.add_parser(path[0], help=help_text)
        else:
            if path[0] not in groups:
                group = top.add_parser(path[0], help=f"{path[0]} subcommands")
                groups[path[0]] = group.add_subparsers(dest="subcommand", required=True)
            sub = groups[path[0]].add_parser(path[1], help=help_text)
        sub.set_defaults(_command=path)
        if path == selected:
            importlib.import_module(module).add_arguments(sub)
    return parser


def _selected(argv: Sequence[str]) -> tuple[str, ...] | None:
    words = [a for a in argv if not a.startswith("-")]
    for path in COMMANDS:
        if tuple(words[: len(path)]) == path:
            return path
    return None


def main(argv: Sequence[str] | None = None) -> int:
    configure_litellm()  # before any command can import LiteLLM: bundled cost map, quiet, offline-safe
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = _selected(argv)
    try:
        parser = build_parser(selected)
    except ModuleNotFoundError as exc:
        print(f"v0-gateway: command {' '.join(selected or ())} is not available: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[args._command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
