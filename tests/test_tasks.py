"""Benchmark tasks: closed-form MI against Monte Carlo, invertible maps, reproducible samples."""

import math

import numpy as np
import pytest
import torch

from anchor.tasks import (
    FAMILIES,
    SUITE,
    TRANSFORMS,
    Task,
    dense_covariance,
    gaussian_mi,
    get_task,
    pairs_covariance,
    student_t_correction,
)


@pytest.mark.parametrize("name", list(SUITE))
def test_closed_form_mi_matches_monte_carlo_within_three_standard_errors(name):
    """E_p[log p(x, y) / (p(x) p(y))] by scipy's densities on base samples: an independent check of
    both the closed form and the sampler (a wrong chi-square scale or covariance moves it)."""
    task = get_task(name)
    z = task.base_sample(20_000, torch.Generator().manual_seed(7), torch.device("cpu")).numpy()
    log_ratio = task.base_log_ratio(z[:, : task.dim_x], z[:, task.dim_x :])
    stderr = log_ratio.std(ddof=1) / math.sqrt(len(log_ratio))
    assert abs(log_ratio.mean() - task.mi) < 3 * stderr, (log_ratio.mean(), task.mi, stderr)


def test_suite_has_the_families_and_at_least_twenty_tasks():
    tasks = [get_task(name) for name in SUITE]
    assert len(tasks) >= 20
    assert {t.family for t in tasks} == set(FAMILIES)
    assert max(t.dim_x for t in tasks if t.family == "normal") >= 20
    assert {t.dof for t in tasks if t.dof} == {1, 2, 3, 5}
    assert {t.transform for t in tasks if t.transform} == set(TRANSFORMS)
    high = sorted(t.mi for t in tasks if t.family == "high-mi" and not t.transform)
    assert high[0] == pytest.approx(1.0) and high[-1] == pytest.approx(8.0)


def test_closed_forms_agree_with_known_values():
    # one pair: I = -1/2 log(1 - rho^2)
    assert gaussian_mi(pairs_covariance(1, 1, rho=0.6), 1) == pytest.approx(-0.5 * math.log(1 - 0.36))
    # independent blocks carry no MI, whatever their inner correlation
    cov = np.eye(4)
    cov[0, 1] = cov[1, 0] = 0.7
    assert gaussian_mi(cov, 2) == pytest.approx(0.0, abs=1e-12)
    # the Student-t correction is positive and vanishes as the tails become normal
    assert student_t_correction(1, 1, 1) > student_t_correction(5, 1, 1) > student_t_correction(1000, 1, 1) > 0
    assert student_t_correction(1e6, 2, 2) == pytest.approx(0.0, abs=1e-5)
    assert student_t_correction(3, 2, 5) == pytest.approx(student_t_correction(3, 5, 2))


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transforms_are_bijections(name):
    forward, inverse = TRANSFORMS[name]
    z = torch.randn(2000, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    if name == "normal-cdf":
        z = z.clamp(-6, 6)  # beyond this float64 rounds the CDF to 1
    assert torch.allclose(inverse(forward(z)), z, atol=1e-9)
    # distinct points stay distinct (no two inputs meet)
    out = forward(z)
    assert torch.cdist(out, out).add(torch.eye(len(z), dtype=z.dtype)).min() > 0


def test_transformed_task_keeps_the_base_mi_and_changes_the_samples():
    base = Task("b", "normal", pairs_covariance(3, 3, rho=0.8), 3)
    spiral = Task("s", "transformed", pairs_covariance(3, 3, rho=0.8), 3, transform="spiral")
    assert spiral.mi == base.mi
    xb, yb = base.sample(100, seed=3, dtype=torch.float64)
    xs, ys = spiral.sample(100, seed=3, dtype=torch.float64)
    assert not torch.allclose(xs, xb)
    inverse = TRANSFORMS["spiral"][1]
    assert torch.allclose(inverse(xs), xb) and torch.allclose(inverse(ys), yb)


def test_samples_are_reproducible_with_the_right_shapes():
    task = get_task("student-dof3-5x5")
    x1, y1 = task.sample(50, seed=1)
    x2, y2 = task.sample(50, seed=1)
    x3, _ = task.sample(50, seed=2)
    assert x1.shape == (50, 5) and y1.shape == (50, 5) and x1.dtype == torch.float32
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)


def test_bad_input_names_the_argument():
    with pytest.raises(KeyError, match="unknown task 'gausian'; valid tasks are: 'asinh-student"):
        get_task("gausian")
    with pytest.raises(KeyError, match="unknown transform 'cube'"):
        Task("t", "normal", np.eye(2), 1, transform="cube")
    with pytest.raises(ValueError, match="cov must be a symmetric square matrix"):
        Task("t", "normal", np.ones((2, 3)), 1)
    with pytest.raises(np.linalg.LinAlgError):
        Task("t", "normal", np.array([[1.0, 2.0], [2.0, 1.0]]), 1)  # not positive definite
    with pytest.raises(ValueError, match="dof"):
        Task("t", "student-t", np.eye(2), 1, dof=0)
    with pytest.raises(ValueError, match="corr"):
        dense_covariance(2, 2, corr=-0.5)
    with pytest.raises(ValueError, match="rho"):
        pairs_covariance(2, 2, rho=1.0)
