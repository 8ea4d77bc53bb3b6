"""Self-supervised training: encoders, the cosine critic, representation metrics, runs and resume."""

import inspect
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import anchor
import anchor.ssl as ssl
from anchor import OBJECTIVES, Objective, get_objective
from anchor.encoders import ContrastiveCritic, ResNet18, SmallCNN
from anchor.representation import alignment, knn_accuracy, linear_cka, linear_probe, uniformity
from anchor.ssl import (
    RANDOM_INIT,
    SSL_OBJECTIVES,
    checkpoint_features,
    run_ssl,
    ssl_configs,
    ssl_summary,
    sweep_ssl,
)

TINY = dict(epochs=2, warmup_epochs=1, batch_size=64, train_size=256, width=8, proj_dim=16, knn_every=1)


# --- encoders and the critic ---------------------------------------------------------------------


def test_encoder_output_sizes():
    assert SmallCNN(1, width=8)(torch.rand(3, 1, 28, 28)).shape == (3, 32)
    assert ResNet18(3, width=8)(torch.rand(2, 3, 32, 32)).shape == (2, 64)
    assert ResNet18().out_dim == 512


def test_contrastive_critic_follows_the_logits_convention():
    critic = ContrastiveCritic("small-cnn", width=8, proj_dim=16, temperature=0.5).eval()
    with torch.no_grad():
        critic.offset.fill_(-0.3)
        x, y = torch.rand(5, 1, 28, 28), torch.rand(4, 1, 28, 28)
        logits = critic(x, y)
        assert logits.shape == (5, 4)
        for i in range(5):
            for j in range(4):
                assert logits[i, j].item() == pytest.approx(critic(x[i : i + 1], y[j : j + 1])[0, 0].item(), abs=1e-5)
        assert logits.abs().sub(0.3).max() <= 1 / 0.5 + 1e-5  # cosine / temperature + offset
        assert torch.allclose(critic.pairs(x[:4], y), logits[:4].diagonal(), atol=1e-5)


def test_contrastive_critic_rejects_bad_settings():
    with pytest.raises(KeyError, match=r"encoder.*small-cnn"):
        ContrastiveCritic("vit")
    with pytest.raises(ValueError, match="temperature must be"):
        ContrastiveCritic(temperature=0.0)


# --- representation metrics ----------------------------------------------------------------------


def test_linear_cka_is_one_up_to_rotation_and_scale_and_low_for_unrelated_features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 20))
    q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    assert linear_cka(x, 3.0 * x @ q + 1.0) == pytest.approx(1.0, abs=1e-10)
    unrelated = linear_cka(x, rng.normal(size=(500, 30)))
    assert unrelated < 0.1
    y = np.concatenate([x[:, :10], rng.normal(size=(500, 10))], axis=1)  # shares half the variance
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x))
    assert unrelated < linear_cka(x, y) < 1.0
    with pytest.raises(ValueError, match="same inputs: 500 rows vs 10"):
        linear_cka(x, x[:10])


def test_alignment_and_uniformity_on_known_configurations():
    z = torch.nn.functional.normalize(torch.randn(100, 8), dim=1)
    assert alignment(z, z) == 0.0
    assert alignment(z, -z) == pytest.approx(4.0)  # antipodal: |z1 - z2|^2 = 4
    two = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    assert uniformity(two) == pytest.approx(-8.0)  # log exp(-2 * 4)
    collapsed = torch.tensor([[1.0, 0.0]]).expand(10, 2)
    assert uniformity(collapsed) == pytest.approx(0.0, abs=1e-6)
    spread = torch.nn.functional.normalize(torch.randn(2000, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    assert uniformity(spread) < -3.0  # the uniform distribution on S^7 is near log E exp(-2 |z - z'|^2) = -3.7


def test_probes_read_class_structure_and_not_noise():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=1200)
    centres = rng.normal(size=(10, 16)) * 3
    features = centres[labels] + rng.normal(size=(1200, 16))
    good = linear_probe(features[:1000], labels[:1000], features[1000:], labels[1000:])
    assert good["top1"] > 0.95 and good["top5"] >= good["top1"]
    assert knn_accuracy(features[:1000], labels[:1000], features[1000:], labels[1000:]) > 0.95
    noise = rng.normal(size=(1200, 16))
    chance = linear_probe(noise[:1000], labels[:1000], noise[1000:], labels[1000:])
    assert chance["top1"] < 0.2 and 0.35 < chance["top5"] < 0.65  # 0.1 and 0.5 by chance


def test_probes_reject_mismatched_or_diverged_features():
    with pytest.raises(ValueError, match="train_features has 10 rows but train_labels has 9"):
        linear_probe(np.zeros((10, 2)), np.zeros(9), np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="test_features contains NaN"):
        knn_accuracy(np.ones((10, 2)), np.arange(10) % 2, np.full((3, 2), np.nan), np.zeros(3), k=3)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 10\]"):
        knn_accuracy(np.ones((10, 2)), np.arange(10) % 2, np.ones((3, 2)), np.zeros(3), k=20)


# --- runs ----------------------------------------------------------------------------------------


def _wide(result: pd.DataFrame) -> pd.DataFrame:
    return result.pivot_table(index="epoch", columns="metric", values="value")


@pytest.mark.parametrize("objective", SSL_OBJECTIVES)
def test_every_paper_objective_trains_through_the_registry(objective, monkeypatch):
    seen = []
    original = OBJECTIVES[objective]

    def spy(*args, **kwargs):
        seen.append(objective)
        return original(*args, **kwargs)

    monkeypatch.setitem(OBJECTIVES, objective, spy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wide = _wide(run_ssl(objective=objective, seed=0, progress=False, **TINY))
    assert seen == [objective]  # the training loss is the registry's objective, built once
    package = Path(anchor.__file__).resolve().parent
    ours = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught if package in Path(w.filename).resolve().parents]
    assert not ours  # e.g. reading a loss that requires grad as a float warns on every step
    assert list(wide.index) == [0, 1, 2]
    assert wide.loc[2, "diverged"] == 0.0
    assert np.isfinite(wide.loc[[1, 2], ["loss", "estimate"]].to_numpy()).all()
    for metric in ("probe_top1", "probe_top5", "knn_top1"):
        assert 0.0 <= wide.loc[2, metric] <= 1.0
    assert 0.0 <= wide.loc[2, "alignment"] <= 4.0 and -4.0 <= wide.loc[2, "uniformity"] <= 0.0
    assert wide.loc[2, "lr"] < wide.loc[1, "lr"]  # cosine decay


def test_each_step_scores_both_views_as_contexts(monkeypatch):
    """The loss of a step is the registry objective on the logits and on their transpose."""
    calls = []
    real = get_objective("infonce")

    def recording(logits):
        calls.append(logits.detach().clone())
        return real.loss(logits)

    monkeypatch.setitem(OBJECTIVES, "infonce", lambda: Objective("infonce", recording, real.estimate, "bound"))
    result = run_ssl(objective="infonce", seed=3, progress=False, **{**TINY, "epochs": 1, "knn_every": 0})
    assert len(calls) == 2 * (256 // 64)  # two calls per step
    pairs = list(zip(calls[::2], calls[1::2], strict=True))
    for first, second in pairs:
        assert first.shape == (64, 64) and torch.equal(second, first.T)
    expected = np.mean([0.5 * (real.loss(a) + real.loss(b)).item() for a, b in pairs])
    assert _wide(result).loc[1, "loss"] == pytest.approx(expected, rel=1e-6)


def test_runs_are_reproducible_and_seeds_differ():
    a = run_ssl(objective="anchor", seed=1, progress=False, **TINY)
    b = run_ssl(objective="anchor", seed=1, progress=False, **TINY)
    c = run_ssl(objective="anchor", seed=2, progress=False, **TINY)
    keep = a["metric"] != "seconds"
    pd.testing.assert_frame_equal(a[keep].reset_index(drop=True), b[keep].reset_index(drop=True))
    assert not np.allclose(_wide(a).loc[1, "loss"], _wide(c).loc[1, "loss"])


def _interrupt_after_first_checkpoint(folder):
    """A thread that sends this process SIGINT (Ctrl-C) once a checkpoint appears in ``folder``."""
    import os
    import signal
    import threading
    import time

    def watch():
        while not list(folder.glob("ssl-*.pt")):
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    settings = {**TINY, "epochs": 8}
    reference = run_ssl(objective="anchor", seed=0, progress=False, **settings)
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # also where the suite runs in the background
    try:
        watcher = _interrupt_after_first_checkpoint(tmp_path)
        with pytest.raises(KeyboardInterrupt):  # a real Ctrl-C, after epoch 1 is saved
            run_ssl(objective="anchor", seed=0, progress=False, checkpoint_dir=str(tmp_path), **settings)
        watcher.join()
    finally:
        signal.signal(signal.SIGINT, before)
    (path,) = tmp_path.glob("ssl-*.pt")
    assert not list(tmp_path.glob("*.tmp"))
    saved = torch.load(path, weights_only=True)
    assert not saved["finished"] and 1 <= saved["epoch"] < settings["epochs"]
    resumed = run_ssl(objective="anchor", seed=0, progress=False, checkpoint_dir=str(tmp_path), **settings)
    # the epochs before the interruption were not trained again: their timings are the saved ones
    before = resumed[(resumed.metric == "seconds") & (resumed.epoch <= saved["epoch"])].value.tolist()
    assert before == [value for _, metric, value in saved["rows"] if metric == "seconds"]
    keep = reference["metric"] != "seconds"
    pd.testing.assert_frame_equal(
        reference[keep].reset_index(drop=True), resumed[resumed["metric"] != "seconds"].reset_index(drop=True)
    )
    # a finished checkpoint answers without training again: the file is not rewritten
    written = path.stat().st_mtime_ns
    again = run_ssl(objective="anchor", seed=0, progress=False, checkpoint_dir=str(tmp_path), **settings)
    pd.testing.assert_frame_equal(again, resumed)
    assert path.stat().st_mtime_ns == written


def test_sweep_summary_and_features_for_cka(tmp_path):
    configs = ssl_configs(["infonce", "anchor"], [0], **TINY) + ssl_configs([None], [0], **{**TINY, "epochs": 0})
    results = sweep_ssl(configs, cache=str(tmp_path / "cache"), checkpoint_dir=str(tmp_path / "ckpt"))
    summary = ssl_summary(results)
    assert sorted(summary["objective"]) == sorted([RANDOM_INIT, "infonce", "anchor"])
    assert summary[["probe_top1", "probe_top5", "knn_top1"]].notna().all().all()
    assert (summary["diverged"] == 0).all()
    features = {c["objective"]: checkpoint_features(tmp_path / "ckpt", c) for c in configs}
    assert features["infonce"].shape == (1000, 32)  # every test image, 4 x width features
    assert 0.0 < linear_cka(features["infonce"], features["anchor"]) <= 1.0
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoint_features(tmp_path / "nowhere", configs[0])
    # a second sweep loads every run from the cache
    again = sweep_ssl(configs, cache=str(tmp_path / "cache"), checkpoint_dir=str(tmp_path / "ckpt"))
    pd.testing.assert_frame_equal(again, results)


def test_bad_run_arguments_are_named():
    with pytest.raises(ValueError, match=r"objective=None .* needs epochs=0"):
        run_ssl(objective=None, seed=0, epochs=1)
    with pytest.raises(KeyError, match=r"objective.*anchor-brier"):
        run_ssl(objective="simclr", seed=0, **TINY)
    with pytest.raises(ValueError, match=r"batch_size \(at most the training images\)"):
        run_ssl(objective="anchor", seed=0, **{**TINY, "batch_size": 512})
    with pytest.raises(ValueError, match="unknown ssl setting"):
        ssl_configs(["anchor"], [0], epoch=3)


def test_ssl_defaults_are_every_keyed_argument_of_run_ssl():
    options = {"objective", "seed", "data_root", "device", "progress", "checkpoint_dir"}  # not configuration
    params = inspect.signature(run_ssl).parameters
    assert set(ssl.SSL_DEFAULTS) == set(params) - options
    assert all(params[name].default == value for name, value in ssl.SSL_DEFAULTS.items())


def _finished_checkpoint(tmp_path):
    """A one-epoch anchor run checkpointed in ``tmp_path``: its settings, configuration, checkpoint
    path and loaded state."""
    settings = {**TINY, "epochs": 1}
    config = ssl_configs(["anchor"], [0], **settings)[0]
    result = run_ssl(objective="anchor", seed=0, progress=False, checkpoint_dir=str(tmp_path), **settings)
    path = ssl.checkpoint_path(tmp_path, config)
    return settings, config, path, torch.load(path, weights_only=True), result


def test_checkpoints_refuse_another_configuration_or_precision(tmp_path):
    settings, config, path, state, _ = _finished_checkpoint(tmp_path)
    assert state["finished"] and state["config"] == config and state["precision"] == "float32"
    state["config"] = {**config, "lr": 0.5}  # a file left by another configuration
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"another configuration \(differs in \['lr'\]\)"):
        run_ssl(objective="anchor", seed=0, progress=False, checkpoint_dir=str(tmp_path), **settings)
    state.update(config=config, finished=False, precision="bfloat16-autocast")  # half-trained on a GPU
    torch.save(state, path)
    with pytest.raises(ValueError, match="was trained in bfloat16-autocast; resuming it in float32"):
        run_ssl(objective="anchor", seed=0, progress=False, checkpoint_dir=str(tmp_path), **settings)


def test_a_diverging_run_is_reported_at_its_epoch_and_not_retrained(tmp_path, monkeypatch):
    steps = {"n": 0}
    real = get_objective("infonce")

    def breaks_in_epoch_two(logits):
        steps["n"] += 1
        loss = real.loss(logits)
        return loss * float("nan") if steps["n"] > 2 * 4 else loss  # two calls per step, 4 steps per epoch

    broken = Objective("infonce", breaks_in_epoch_two, real.estimate, "bound")
    monkeypatch.setitem(OBJECTIVES, "infonce", lambda: broken)
    settings = {**TINY, "epochs": 3}
    result = run_ssl(objective="infonce", seed=0, progress=False, checkpoint_dir=str(tmp_path), **settings)
    wide = _wide(result)
    assert wide.loc[2, "diverged"] == 1.0 and 3 not in wide.index and "probe_top1" not in wide
    config = ssl_configs(["infonce"], [0], **settings)[0]
    with pytest.raises(RuntimeError, match="diverged in epoch 2; it has no features"):
        checkpoint_features(tmp_path, config)
    calls = steps["n"]
    again = run_ssl(objective="infonce", seed=0, progress=False, checkpoint_dir=str(tmp_path), **settings)
    assert steps["n"] == calls  # answered from the checkpoint
    pd.testing.assert_frame_equal(again, result)
    summary = ssl_summary(again.assign(objective="infonce", seed=0))
    assert summary.loc[0, "diverged"] == 1.0 and np.isnan(summary.loc[0, "probe_top1"])


def test_a_crafted_or_damaged_checkpoint_runs_nothing_and_training_starts_over(tmp_path, crafted_payload):
    settings = {**TINY, "epochs": 1}
    config = ssl_configs(["anchor"], [0], **settings)[0]
    path = ssl.checkpoint_path(tmp_path, config)
    reference = run_ssl(objective="anchor", seed=0, progress=False, **settings)
    whole = None
    payload, marker = crafted_payload
    for damage in ("crafted", "empty", "truncated"):
        if damage == "crafted":
            torch.save({"version": ssl.CHECKPOINT_VERSION, "config": config, "hook": payload}, path)
        elif damage == "empty":
            path.write_bytes(b"")
        else:
            path.write_bytes(whole[: len(whole) // 2])
        with pytest.raises(anchor.cache.CacheFileError, match=r"ssl-.*\.pt: not a readable checkpoint"):
            checkpoint_features(tmp_path, config)
        with pytest.warns(UserWarning, match=r"checkpoint .*ssl-.*\.pt cannot be used .*training from the start"):
            result = run_ssl(objective="anchor", seed=0, progress=False, checkpoint_dir=str(tmp_path), **settings)
        keep = result["metric"] != "seconds"
        pd.testing.assert_frame_equal(result[keep], reference[reference["metric"] != "seconds"])
        assert not marker.exists()
        whole = path.read_bytes()
        assert checkpoint_features(tmp_path, config).shape == (1000, 32)


def test_an_unfinished_checkpoint_resumes_only_with_its_thread_count(tmp_path):
    settings, _, path, state, _ = _finished_checkpoint(tmp_path)
    assert state["threads"] == torch.get_num_threads()
    state.update(finished=False, threads=state["threads"] + 1)
    torch.save(state, path)
    threads = state["threads"]
    with pytest.raises(ValueError, match=rf"trained with {threads} torch thread\(s\); resuming it with {threads - 1}"):
        run_ssl(objective="anchor", seed=0, progress=False, checkpoint_dir=str(tmp_path), **settings)


def test_a_checkpoint_made_by_other_code_is_not_served(tmp_path):
    """A finished checkpoint records the code and data it was made with; after a change it is
    replaced, not returned (the sweep's cache key changes with the code too)."""
    settings, _, path, state, first = _finished_checkpoint(tmp_path)
    assert (
        set(state["context"]) == {"run", "code", "version", "data"}
        and "mnist/mnist_5k.csv.gz" in state["context"]["data"]
    )
    state["context"]["code"] = "older"
    state["rows"] = [(1, "probe_top1", -1.0)]  # what a stale file would answer
    torch.save(state, path)
    with pytest.warns(UserWarning, match=r"made by other code or from other data files \(differs in \['code'\]\)"):
        again = run_ssl(objective="anchor", seed=0, progress=False, checkpoint_dir=str(tmp_path), **settings)
    keep = again["metric"] != "seconds"
    pd.testing.assert_frame_equal(again[keep], first[first["metric"] != "seconds"])
