"""Time of self-supervised training per epoch, and what a profile's sweep will take.

    python benchmarks/ssl_epoch.py                                   # the quick MNIST setting, this CPU
    python benchmarks/ssl_epoch.py --paper --device cuda --synthetic # ResNet-18, CIFAR-100 layout

Runs ``anchor.run_ssl`` for ``--epochs`` epochs and reports the median training time per epoch
(views, forward, loss, backward, step), images per second and the time of the final evaluation
(features, linear probe, k-NN, alignment and uniformity). ``--paper`` uses the ``ssl_cifar100``
paper setting (ResNet-18, batch 256, CIFAR-100); ``--synthetic`` writes random images in the
CIFAR-100 pickle layout to a temporary folder, so the timing needs no data (the accuracies it
prints are then meaningless). The last line multiplies out the profile: epochs x objectives x
seeds.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import anchor


def write_synthetic_cifar100(root: Path, n_train: int = 50_000, n_test: int = 10_000, seed: int = 0) -> Path:
    """Random images and labels in the CIFAR-100 python-pickle layout under ``root``."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        batch = {
            "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            "fine_labels": rng.integers(0, 100, n).tolist(),
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--paper", action="store_true", help="ResNet-18 on CIFAR-100, batch 256 (else small CNN on MNIST)"
    )
    parser.add_argument("--synthetic", action="store_true", help="random images in the CIFAR-100 layout (with --paper)")
    parser.add_argument("--data-root", default=None, help="folder of the CIFAR pickle files (with --paper)")
    parser.add_argument("--objective", default="anchor")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=None, help="first images of the training split")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--profile-epochs", type=int, default=None, help="epochs of the profile to project")
    parser.add_argument("--runs", type=int, default=18, help="objectives x seeds of the profile to project")
    args = parser.parse_args(argv)
    torch.set_num_threads(torch.get_num_threads())
    if args.paper:
        settings = dict(dataset="cifar100", encoder="resnet18", width=None, temperature=0.5, proj_dim=128)
        profile_epochs = args.profile_epochs or 200
    else:
        settings = dict(dataset="mnist", encoder="small-cnn", width=32, proj_dim=64)
        profile_epochs = args.profile_epochs or 10
    with tempfile.TemporaryDirectory() as tmp:
        data_root = args.data_root
        if args.paper and args.synthetic:
            data_root = str(write_synthetic_cifar100(Path(tmp)))
        tic = time.perf_counter()
        result = anchor.run_ssl(
            objective=args.objective,
            seed=0,
            epochs=args.epochs,
            batch_size=args.batch_size,
            train_size=args.train_size,
            knn_every=0,
            warmup_epochs=0,
            data_root=data_root,
            device=args.device,
            progress=False,
            **settings,
        )
        wall = time.perf_counter() - tic
    wide = result.pivot_table(index="epoch", columns="metric", values="value")
    per_epoch = statistics.median(wide["seconds"].dropna())
    n_train = args.train_size or (50_000 if args.paper else 4_000)
    steps = n_train // args.batch_size
    evaluation = wall - wide["seconds"].sum()
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        f"setting: {settings['encoder']} on {settings['dataset']}{' (synthetic images)' if args.synthetic else ''}, "
        f"batch {args.batch_size}, objective {args.objective}"
    )
    print(
        f"training: {per_epoch:.2f} s per epoch (median of {args.epochs}), {steps} steps, "
        f"{steps / per_epoch:.1f} steps/s, {2 * steps * args.batch_size / per_epoch:,.0f} views/s"
    )
    print(f"loading and final evaluation: {evaluation:.1f} s (features, linear probe, k-NN, alignment, uniformity)")
    final = wide.iloc[-1]
    print(
        f"final: probe top-1 {final['probe_top1']:.3f}, top-5 {final['probe_top5']:.3f}, k-NN {final['knn_top1']:.3f}"
    )
    hours = args.runs * (profile_epochs * per_epoch + evaluation) / 3600
    print(
        f"projected sweep: {args.runs} runs x {profile_epochs} epochs = {hours:.2f} h on this device, one run at a time"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
