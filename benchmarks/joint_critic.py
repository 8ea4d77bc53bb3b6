"""Training-step speed of the joint critic: our split first layer against the tiled reference.

    python benchmarks/joint_critic.py                    # d = 10, 2 x 1,024, 2 x 4,096 on this CPU
    python benchmarks/joint_critic.py --dims 10 1024 --repeats 7 --device cuda

For each input size (dim_x = dim_y = d) it builds one ``anchor.JointCritic`` (in -> 256, 2 x 256,
-> 1, ReLU; the Lee & Rhee / SMILE network) and an exact copy, and times full training steps
(forward on all B^2 pairs, InfoNCE-anchor loss, backward, Adam step; batch B = 64) of

- ``fast``: ``JointCritic.forward``, which projects each sample once through the first layer and
  broadcast-adds the projections over the B^2 pairs;
- ``tiled``: ``JointCritic.tiled``, the reference evaluation of the public SMILE / Lee & Rhee
  code, which concatenates the B^2 pairs and runs every layer on B^2 rows;
- ``separable``: ``anchor.SeparableCritic`` on the same inputs, for scale.

The implementations alternate within each repeat, so drifts in machine speed hit both; the
script prints the median time per step, the ratio tiled / fast, and the achieved GFLOP/s (the
matrix-multiply FLOPs of each implementation's forward and backward, counted from the layer
shapes) against this machine's measured float32 matmul peak (the best of a few large
``torch.mm`` calls at the same thread count).
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time

import torch

import anchor


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, size: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of a (size x size) @ (size x size) product."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.mm(a, b)
    best = math.inf
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def linear_flops(rows: int, fan_in: int, fan_out: int, *, input_grad: bool = True) -> int:
    """Forward + backward matmul FLOPs of one linear layer on ``rows`` rows."""
    forward = 2 * rows * fan_in * fan_out
    return forward * (3 if input_grad else 2)  # forward, weight gradient, input gradient


def step_flops(kind: str, batch: int, dim: int, width: int = 256, depth: int = 3, embed: int = 32) -> int:
    """Matmul FLOPs of one training step of each implementation (inputs need no gradient)."""
    pairs = batch * batch
    later = sum(linear_flops(pairs, width, width) for _ in range(depth - 1)) + linear_flops(pairs, width, 1)
    if kind == "tiled":
        return linear_flops(pairs, 2 * dim, width, input_grad=False) + later
    if kind == "fast":
        return 2 * linear_flops(batch, dim, width, input_grad=False) + later
    encoder = linear_flops(batch, dim, width, input_grad=False)
    encoder += sum(linear_flops(batch, width, width) for _ in range(depth - 1)) + linear_flops(batch, width, embed)
    return 2 * encoder + linear_flops(batch, embed, batch)  # two encoders and the B x B score matrix


def make_step(evaluate, module: torch.nn.Module, lr: float = 5e-4):
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    objective = anchor.get_objective("anchor")

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        loss = objective.loss(evaluate(x, y))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 1024, 4096], help="dim_x = dim_y per case")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per implementation (median)")
    parser.add_argument("--seconds", type=float, default=0.5, help="target length of one timed repeat")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    peak = matmul_peak(device)
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"measured float32 matmul peak: {peak:.1f} GFLOP/s (2048 x 2048 x 2048)\n")
    header = (
        f"{'inputs':>12} {'critic':>10} {'ms/step':>9} {'steps/s':>8} {'GFLOP/step':>10} {'GFLOP/s':>8} {'% peak':>7}"
    )
    print(header)
    print("-" * len(header))
    ratios = {}
    for dim in args.dims:
        fast = anchor.JointCritic(dim, dim).to(device)
        tiled = copy.deepcopy(fast)
        separable = anchor.SeparableCritic(dim, dim).to(device)
        steps = {
            "fast": make_step(fast, fast),
            "tiled": make_step(tiled.tiled, tiled),
            "separable": make_step(separable, separable),
        }
        x = torch.randn(args.batch, dim, device=device)
        y = torch.randn(args.batch, dim, device=device)
        per_repeat = {}
        for name, step in steps.items():  # warm up, then size the repeats to about args.seconds
            step(x, y)
            sync(device)
            start = time.perf_counter()
            step(x, y)
            sync(device)
            per_repeat[name] = max(1, math.ceil(args.seconds / (time.perf_counter() - start)))
        times: dict[str, list[float]] = {name: [] for name in steps}
        for repeat in range(args.repeats):
            order = list(steps) if repeat % 2 == 0 else list(reversed(steps))
            for name in order:
                sync(device)
                start = time.perf_counter()
                for _ in range(per_repeat[name]):
                    steps[name](x, y)
                sync(device)
                times[name].append((time.perf_counter() - start) / per_repeat[name])
        label = "10 (d)" if dim == 10 else f"2 x {dim:,}"
        for name in ("tiled", "fast", "separable"):
            seconds = statistics.median(times[name])
            flops = step_flops(name, args.batch, dim) / 1e9
            print(
                f"{label:>12} {name:>10} {1e3 * seconds:9.2f} {1 / seconds:8.1f} {flops:10.2f} "
                f"{flops / seconds:8.1f} {100 * flops / seconds / peak:6.1f}%"
            )
        ratios[label] = statistics.median(times["tiled"]) / statistics.median(times["fast"])
        print(f"{label:>12} {'tiled / fast':>10} {ratios[label]:9.2f}x\n")
    print("speed-up of the fast joint critic over the tiled reference (median time per step):")
    print(", ".join(f"{label}: {ratio:.2f}x" for label, ratio in ratios.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
