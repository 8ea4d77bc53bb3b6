"""Lee & Rhee samplers on real MNIST digits and IMDB embeddings."""

import math

import numpy as np
import pytest
import torch

from anchor.bit_channels import (
    BitChannelSampler,
    ImdbBitsSampler,
    MnistBitsSampler,
    _mnist_zeros_ones,
    binary_entropy_bits,
    bsc_crossover,
    find_imdb_embeddings,
)
from anchor.class_posterior import class_posterior_mi, linear_class_posterior

IMDB = find_imdb_embeddings()


@pytest.mark.parametrize("bits", [0.5, 2.0, 4.0, 6.0, 8.0, 9.99])
def test_crossover_solves_the_target_exactly(bits):
    p = bsc_crossover(mi=bits * math.log(2))
    assert 0.0 < p < 0.5
    assert 10 * (1 - binary_entropy_bits(p)) == pytest.approx(bits, abs=1e-12)


def test_crossover_edges():
    assert bsc_crossover(mi=0.0) == 0.5
    assert bsc_crossover(mi=10 * math.log(2)) == 0.0
    with pytest.raises(ValueError, match=r"mi must be a finite number in \[0, 6.93147\], got 7.0"):
        bsc_crossover(mi=7.0)


def test_channel_flip_rate_matches_crossover():
    sampler = MnistBitsSampler(mi=4 * math.log(2), size=8)
    bits_x, bits_y = sampler.bits(20_000, torch.Generator().manual_seed(0))
    rate = (bits_x != bits_y).double().mean().item()
    se = math.sqrt(sampler.crossover * (1 - sampler.crossover) / bits_x.numel())
    assert rate == pytest.approx(sampler.crossover, abs=4 * se)
    assert bits_x.double().mean().item() == pytest.approx(0.5, abs=0.01)


class _TinyPools(BitChannelSampler):
    """Two bits, each shown as one of three distinct numbers of its class: small enough to count
    every (x, y) pair."""

    def __init__(self, *, mi):
        super().__init__(mi=mi, n_bits=2)
        self.pools = torch.tensor([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]])
        self.dim_x = self.dim_y = 2

    def arrange(self, instances):
        return instances


def _plug_in_mi(x, y):
    """The MI in nats of the empirical joint distribution of the discrete rows x and y."""
    _, ix = np.unique(x, axis=0, return_inverse=True)
    _, iy = np.unique(y, axis=0, return_inverse=True)
    joint = np.zeros((ix.max() + 1, iy.max() + 1))
    np.add.at(joint, (ix.ravel(), iy.ravel()), 1.0)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    seen = joint > 0
    return float((joint[seen] * np.log(joint[seen] / outer[seen])).sum())


@pytest.mark.parametrize("bits", [0.5, 1.0, 1.9])
def test_the_stated_mi_is_the_mi_of_the_rendered_pairs(bits):
    """Counted over 36 x 36 (x, y) values: the instances add nothing to the bits' MI. Had Y's
    instance avoided X's, the count would read 2 log(3/2) = 0.81 nats more."""
    sampler = _TinyPools(mi=bits * math.log(2))
    x, y = sampler.sample(2_000_000, seed=0, dtype=torch.float64)
    counted = _plug_in_mi(x.numpy(), y.numpy())
    # plug-in bias about 35 * 35 / (2 n) = 0.0003 nats; standard error about 0.001
    assert counted == pytest.approx(sampler.mi, abs=0.005)
    assert sampler.mi == pytest.approx(bits * math.log(2), abs=1e-12)


class _OverlappingPools(_TinyPools):
    """As _TinyPools, but the value 2 is an instance of both classes, so the class is not a
    function of the instance: P(class 1 | 2) = 1/2."""

    def __init__(self, *, mi):
        super().__init__(mi=mi)
        self.pools = torch.tensor([[0.0, 1.0, 2.0], [2.0, 11.0, 12.0]])

    posterior = np.array([[0.0, 0.0, 0.5], [0.5, 1.0, 1.0]])  # the exact P(class 1 | value)


@pytest.mark.parametrize("bits", [0.5, 1.0, 1.9])
def test_class_posterior_mi_is_the_mi_of_pools_whose_classes_overlap(bits):
    """Counted over the rendered pairs: with the exact posterior of the values, the function gives
    the MI of the values, below the bits' MI."""
    sampler = _OverlappingPools(mi=bits * math.log(2))
    x, y = sampler.sample(2_000_000, seed=1, dtype=torch.float64)
    counted = _plug_in_mi(x.numpy(), y.numpy())
    through = class_posterior_mi(sampler.posterior, mi=sampler.mi, n_bits=2)
    assert through == pytest.approx(counted, abs=0.005)
    assert through < sampler.mi - 0.05  # the shared instance costs MI


@pytest.mark.parametrize("bits", [0.5, 2.0, 6.0, 9.99, 10.0])
def test_class_posterior_mi_of_the_exact_class_is_the_stated_mi(bits):
    exact = np.repeat([[0.0], [1.0]], 7, axis=1)
    mi = bits * math.log(2)
    assert class_posterior_mi(exact, mi=mi) == pytest.approx(mi, abs=1e-9)
    assert class_posterior_mi(np.full((2, 5), 0.5), mi=mi) == pytest.approx(0.0, abs=1e-12)


def test_class_posterior_mi_rejects_what_is_not_a_posterior():
    with pytest.raises(ValueError, match=r"posterior must have shape \(2, n\).*got \(3, 4\)"):
        class_posterior_mi(np.zeros((3, 4)), mi=1.0)
    with pytest.raises(ValueError, match=r"posterior must hold probabilities in \[0, 1\]"):
        class_posterior_mi(np.array([[0.0, 1.2], [1.0, 1.0]]), mi=1.0)


def test_linear_class_posterior_is_held_out():
    """Two well separated classes but one instance sitting in the other class's cloud: it gets
    the other class's posterior, because its own fold never saw it."""
    rng = np.random.default_rng(0)
    pools = torch.from_numpy(rng.normal(size=(2, 40, 3))) + torch.tensor([[[0.0]], [[6.0]]])
    pools[1, 0] = pools[0, 1:].mean(0)  # a class-1 instance among the zeros
    posterior = linear_class_posterior(pools, folds=4)
    assert posterior.shape == (2, 40)
    assert posterior[0].max() < 0.5 and posterior[1, 1:].min() > 0.5
    assert posterior[1, 0] < 0.5
    with pytest.raises(ValueError, match=r"folds must be an integer in \[2, inf\], got 1"):
        linear_class_posterior(pools, folds=1)


def test_mnist_tiles_are_digits_of_the_right_class():
    sampler = MnistBitsSampler(mi=6 * math.log(2), size=None)
    gen = torch.Generator().manual_seed(1)
    bits_x, _ = sampler.bits(5, gen)
    images, idx = sampler.render(bits_x, gen)
    pools = _mnist_zeros_ones()
    tiles = images.reshape(5, 56, 140)
    for n in range(5):
        for k in range(10):
            row, col = divmod(k, 5)
            block = tiles[n, 28 * row : 28 * row + 28, 28 * col : 28 * col + 28]
            torch.testing.assert_close(block, pools[bits_x[n, k], idx[n, k]])


def test_mnist_pools_are_real_zeros_and_ones():
    pools = _mnist_zeros_ones()
    assert pools.shape == (2, 500, 28, 28)
    assert 0.0 <= pools.min() and pools.max() <= 1.0
    # a one has far less ink than a zero, on average
    assert pools[1].mean() < 0.7 * pools[0].mean()


@pytest.mark.parametrize("size", [32, 64])
def test_mnist_sample_shapes_and_reproducibility(size):
    sampler = MnistBitsSampler(mi=2 * math.log(2), size=size)
    x, y = sampler.sample(16, seed=3)
    x2, y2 = sampler.sample(16, seed=3)
    assert x.shape == y.shape == (16, size * size)
    assert sampler.dim_x == size * size
    torch.testing.assert_close(x, x2)
    torch.testing.assert_close(y, y2)
    assert sampler.mi == pytest.approx(2 * math.log(2), abs=1e-12)


def _fake_imdb(tmp_path, n=6, d=768):
    rng = np.random.default_rng(0)
    path = tmp_path / "imdb.npz"
    labels = np.array([0, 1] * n, dtype=np.int8)
    embeddings = rng.normal(size=(2 * n, d)).astype(np.float32) + 10 * labels[:, None]
    np.savez(path, embeddings=embeddings, labels=labels)
    return path


def test_imdb_sampler_concatenates_embeddings_by_class(tmp_path):
    sampler = ImdbBitsSampler(mi=3.0, path=_fake_imdb(tmp_path))
    x, y = sampler.sample(50, seed=0)
    assert x.shape == y.shape == (50, 7680)
    blocks = x.reshape(50, 10, 768).mean(-1)  # class 1 embeddings sit near 10, class 0 near 0
    bits = (blocks > 5).long()
    assert set(bits.unique().tolist()) == {0, 1}


def test_imdb_missing_file_says_what_it_is(tmp_path):
    message = r"IMDB embeddings not found at .*nope.npz.*fine-tuned on IMDB.*mibenchmark"
    with pytest.raises(FileNotFoundError, match=message):
        ImdbBitsSampler(mi=1.0, path=tmp_path / "nope.npz")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"embeddings": np.zeros((8, 5), np.float32)}, r"lacks the arrays \['labels'\]"),
        (
            {"embeddings": np.zeros((8, 5), np.float32), "labels": np.arange(8) % 2},
            r"shape \(n, 768\), got float32 of shape \(8, 5\)",
        ),
        (
            {"embeddings": np.zeros((8, 768, 2), np.float32), "labels": np.arange(8) % 2},
            r"shape \(n, 768\), got float32 of shape \(8, 768, 2\)",
        ),
        (
            {"embeddings": np.zeros((8, 768), np.int64), "labels": np.arange(8) % 2},
            r"must be a float array .* got int64",
        ),
        (
            {"embeddings": np.zeros((8, 768), np.float32), "labels": np.arange(7) % 2},
            r"'labels' must be an integer array of shape \(8,\)",
        ),
        (
            {"embeddings": np.zeros((8, 768), np.float32), "labels": np.arange(8)},
            r"'labels' must be 0 \(negative\) or 1",
        ),
        ({"embeddings": np.full((8, 768), np.nan, np.float32), "labels": np.arange(8) % 2}, r"NaN or infinite"),
    ],
)
def test_imdb_files_of_the_wrong_shape_or_type_are_refused(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        ImdbBitsSampler(mi=1.0, path=path)


@pytest.mark.parametrize("content", [b"", b"\x80\x04 random bytes that are not an archive", "npy"])
def test_imdb_files_that_are_not_archives_are_refused(tmp_path, content):
    path = tmp_path / "bad.npz"
    if content == "npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros((4, 768)))
        message = "holds a single array, not an .npz archive"
    else:
        path.write_bytes(content)
        message = r"is not a readable \.npz file.*imdb_bert_finetuned.npz"
    with pytest.raises(ValueError, match=message):
        ImdbBitsSampler(mi=1.0, path=path)


@pytest.mark.skipif(IMDB is None, reason="the IMDB embeddings file is not on this machine (ANCHOR_IMDB_EMBEDDINGS)")
def test_imdb_real_embeddings():
    sampler = ImdbBitsSampler(mi=8 * math.log(2), path=IMDB)
    x, y = sampler.sample(8, seed=0)
    assert x.shape == y.shape == (8, 7680) and sampler.pools.shape == (2, 12500, 768)
    assert torch.isfinite(x).all() and x.abs().max() <= 1.0


def test_find_imdb_embeddings_follows_the_environment(tmp_path, monkeypatch):
    path = _fake_imdb(tmp_path)
    monkeypatch.setenv("ANCHOR_IMDB_EMBEDDINGS", str(path))
    assert find_imdb_embeddings() == path.resolve()
