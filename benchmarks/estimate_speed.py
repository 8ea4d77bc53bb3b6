"""Time and memory of one default ``estimate_mi`` call as the number of rows grows.

    python benchmarks/estimate_speed.py                       # n = 1e3 .. 1e6, 5 + 5 columns
    python benchmarks/estimate_speed.py --n 1000 10000 --dim 10 --device cuda

Each size runs in a fresh process (so its peak resident memory is its own): draw n pairs of a
d-dimensional Gaussian with I = 1 nat, call ``anchor.estimate_mi`` with its defaults, and report
the wall time, the steps trained, the estimate, and the peak memory above the process's memory
before the call. Printed against two references in the same run: the time target of 20 s per
estimate at n = 10,000 on 2 CPU cores, and the size of the data itself (x and y in float64), so a
memory that grows like n^2 (pairs expanded) stands out from one that grows like the data.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

TARGET_SECONDS = 20.0


def one(n: int, dim: int, device: str, threads: int | None) -> dict:
    import torch

    import anchor

    if threads:
        torch.set_num_threads(threads)
    x, y = anchor.GaussianSampler(dim, mi=1.0).sample(n, seed=0, dtype=torch.float64)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    est = anchor.estimate_mi(x, y, device=device, progress=False, warn=False)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "n": n,
        "seconds": seconds,
        "steps": int(est.folds.steps.max()),
        "estimate": est.mi,
        "extra_mib": (peak - before) / 1024,
        "data_mib": 2 * n * dim * 8 / 2**20,
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=5, help="columns of x and of y (default: 5)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--inline", action="store_true", help="run in this process (no fresh process per size)")
    parser.add_argument("--_one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._one is not None:
        print(json.dumps(one(args._one, args.dim, args.device, args.threads)))
        return 0
    rows = []
    for n in args.n:
        if args.inline:
            rows.append(one(n, args.dim, args.device, args.threads))
        else:
            cmd = [sys.executable, __file__, "--_one", str(n), "--dim", str(args.dim), "--device", args.device]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        ratio = r["extra_mib"] / max(r["data_mib"], 1e-9)
        print(
            f"n={r['n']:>9,d}  {r['seconds']:7.1f} s  ({r['seconds'] / TARGET_SECONDS:4.2f} x the 20 s target)  "
            f"steps {r['steps']:5d}  estimate {r['estimate']:.3f} nats (truth 1)  "
            f"peak +{r['extra_mib']:7.1f} MiB  (data {r['data_mib']:7.1f} MiB, ratio {ratio:6.1f})  "
            f"threads {r['threads']}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
