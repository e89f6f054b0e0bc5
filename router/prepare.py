"""`v0-gateway prepare`: everything a first start would otherwise compute, done ahead (the
container image runs it at build time):

1. the V0 backbone's ONNX files (exported with torch; skipped when torch is not installed, as in
   the serving image, where the files were built before: the step after this one then fails if
   they are missing);
2. the features of the default profiles' prompts, encoded with the serving runtime
   (router/scoring/prepared.py), so that a start on an empty database fits the default profiles
   without encoding them.

Idempotent: ONNX files already built are kept; the features file is written again.
"""

from __future__ import annotations

import argparse
import importlib.util
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from valuemodel.infer import prepare

    prepare.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from router.app import load_v0
    from router.profiles.seed import default_profiles_dir
    from router.profiles.upload import parse_upload
    from router.scoring.prepared import write_prepared
    from router.settings import Settings

    if importlib.util.find_spec("torch") is not None:
        from valuemodel.infer import prepare

        prepare.run(args)
    else:
        print("torch is not installed: using the ONNX files already built")
    if args.weights:
        os.environ["V0_WEIGHTS"] = args.weights
    settings = Settings()
    texts = [r.prompt for path in sorted(default_profiles_dir().glob("*.jsonl"))
             for r in parse_upload(path.read_bytes(), fmt="jsonl", max_rows=1_000_000)]
    v0 = load_v0(settings)
    path = write_prepared(v0, texts)
    print(f"default profiles: {len(set(texts))} prompts encoded to {path}")
    return 0
