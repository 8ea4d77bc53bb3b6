"""Training-step speed with subnormal floats flushed to zero, as every sweep run trains.

    python benchmarks/subnormals.py                      # d = 10 joint critic, 1 thread
    python benchmarks/subnormals.py --steps 100 --repeats 7 --threads 2

A critic trained with the chi^2 (density-ratio fitting) loss on a high-MI staircase level runs its
outputs off towards minus infinity (RESULTS.md: -12 to -101 nats of bias). exp of such outputs,
and the gradients through them, are subnormal float32 numbers (below 1.2e-38), and x86 CPUs
compute with those far more slowly than with normal numbers. ``anchor.sweep`` therefore runs
every configuration under ``torch.set_flush_denormal(True)``. This script measures what that
changes, for two critics:

- ``collapsed``: an ``anchor.JointCritic`` (the Lee & Rhee / SMILE network, d = 10) trained with the
  chi^2 loss on the 10-bit Gaussian at a large step (lr 1e-2, ``--warmup`` steps), which drives it
  into the collapsed regime of the paper-profile chi^2 runs within a few hundred steps;
- ``healthy``: the same network trained as long with InfoNCE-anchor at the paper's lr 5e-4.

From each critic's state (network and Adam state) it times ``--steps`` further training steps of
the same run (same loss and step, the same batches) with subnormals kept and flushed,
alternating within each repeat so drifts in machine speed hit both, and prints the median time
per step, the ratio kept / flushed, the largest difference between the parameters the two
settings end with (zero: they computed the same bits), and the critic's plug-in estimate on the
last batch (far below the truth: collapsed).
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time

import torch

import anchor

BATCH = 64
DIM = 10


def batches(count: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    sampler = anchor.GaussianSampler(DIM, mi=10 * math.log(2))
    out = []
    for k in range(count):
        x, y = sampler.sample(BATCH, seed=seed + k)
        out.append((torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)))
    return out


def train(critic: anchor.JointCritic, optimiser: torch.optim.Adam, loss_fn, data) -> None:
    for x, y in data:
        optimiser.zero_grad()
        loss_fn(critic(x, y)).backward()
        optimiser.step()


def timed(state: tuple[anchor.JointCritic, torch.optim.Adam], loss_fn, data, flush: bool):
    """Milliseconds per step of ``data`` from a copy of ``state``, and the critic it ends with."""
    critic, optimiser = copy.deepcopy(state)
    torch.set_flush_denormal(flush)
    try:
        start = time.perf_counter()
        train(critic, optimiser, loss_fn, data)
        seconds = time.perf_counter() - start
    finally:
        torch.set_flush_denormal(False)
    return seconds / len(data) * 1000, critic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=int, default=250, help="steps that make each critic's state")
    parser.add_argument("--steps", type=int, default=50, help="steps timed per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not torch.set_flush_denormal(False):
        raise SystemExit("this CPU cannot flush subnormals (torch.set_flush_denormal is x86 only)")
    chi2, anchor_log = anchor.get_objective("chi2").loss, anchor.get_objective("anchor").loss
    cases = {"collapsed": (chi2, 1e-2), "healthy": (anchor_log, 5e-4)}
    print(f"torch {torch.__version__}, {args.threads} thread(s), d = {DIM} joint critic, batch {BATCH}")
    print(f"{'critic':10s} {'kept ms':>8s} {'flushed ms':>10s} {'ratio':>6s} {'max |dθ|':>9s}  plug-in")
    for name, (loss_fn, lr) in cases.items():
        torch.manual_seed(0)
        critic = anchor.JointCritic(DIM, DIM)
        optimiser = torch.optim.Adam(critic.parameters(), lr=lr)
        train(critic, optimiser, loss_fn, batches(args.warmup, seed=0))
        data = batches(args.steps, seed=10_000)
        kept, flushed = [], []
        for _ in range(args.repeats):
            ms, critic_kept = timed((critic, optimiser), loss_fn, data, flush=False)
            kept.append(ms)
            ms, critic_flushed = timed((critic, optimiser), loss_fn, data, flush=True)
            flushed.append(ms)
        with torch.no_grad():
            pairs = zip(critic_kept.parameters(), critic_flushed.parameters(), strict=True)
            gap = max(float((a - b).abs().max()) for a, b in pairs)
            x, y = data[-1]
            plug_in = float(critic_kept(x, y).diagonal().mean())
        k, f = statistics.median(kept), statistics.median(flushed)
        print(f"{name:10s} {k:8.1f} {f:10.1f} {k / f:6.2f} {gap:9.2g}  {plug_in:.1f} nats (truth 6.93)")


if __name__ == "__main__":
    main()
