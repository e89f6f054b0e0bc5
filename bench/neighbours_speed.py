"""Cost of neighbour difficulty at serve time: build time, ms per one-prompt call and per 256-row
profile fit, resident size of the keys, for given per-source prompt counts (random unit keys).

    python -m bench.neighbours_speed --sizes 805 2537 6068 [--nb-dim 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from valuemodel.neighbours import Neighbours


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[805, 2537, 6068], help="prompts per source")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--nb-dim", type=int, default=None, help="keys in this many principal directions")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    parts = [(rng.normal(size=(n, args.dim)).astype(np.float32), rng.random(n).astype(np.float32)) for n in args.sizes]
    t = time.perf_counter()
    nb = Neighbours.build(parts, dim=args.nb_dim)
    build = time.perf_counter() - t
    q = rng.normal(size=(1, args.dim)).astype(np.float32)
    nb(q)
    times = []
    for _ in range(args.calls):
        t = time.perf_counter()
        nb(q)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    nb(rng.normal(size=(256, args.dim)).astype(np.float32))
    fit = time.perf_counter() - t
    resident = nb.keys.nbytes + sum(k.nbytes for k, _ in nb._by_source) + (nb.basis.nbytes if nb.basis is not None else 0)
    print(f"{sum(args.sizes)} keys: build {build:.2f} s, one prompt p50 {1000 * np.median(times):.2f} ms, "
          f"256 rows {1000 * fit:.1f} ms, keys on disk {nb.keys.nbytes / 2**20:.1f} MiB, resident {resident / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
