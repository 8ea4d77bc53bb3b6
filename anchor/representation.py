"""Measures of a learned representation: linear probe, k-NN, linear CKA, alignment and uniformity.

All take feature matrices (N, F) (torch tensors or arrays) and labels (N,); none trains the
encoder. The probe and k-NN are scikit-learn's; CKA and the Wang & Isola metrics are the few
lines of their definitions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._checks import check_int


def _numpy(name: str, array: Any, ndim: int) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    return array


def _check_split(features: Any, labels: Any, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    x = _numpy(f"{prefix}_features", features, 2).astype(np.float64)
    y = _numpy(f"{prefix}_labels", labels, 1)
    if len(x) != len(y):
        raise ValueError(f"{prefix}_features has {len(x)} rows but {prefix}_labels has {len(y)} entries")
    if not np.isfinite(x).all():
        raise ValueError(f"{prefix}_features contains NaN or infinite values (did the encoder diverge?)")
    return x, y


def linear_probe(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    *,
    top_k: tuple[int, ...] = (1, 5),
    C: float = 1.0,
    max_iter: int = 2000,
) -> dict[str, float]:
    """Top-k test accuracy of a multinomial logistic regression on frozen, standardised features.

    Returns ``{"top1": ..., "top5": ...}`` (fractions in [0, 1]). ``C`` is the inverse L2 strength.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import top_k_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train = _check_split(train_features, train_labels, "train")
    x_test, y_test = _check_split(test_features, test_labels, "test")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    model.fit(x_train, y_train)
    scores = model.predict_proba(x_test)
    classes = model.classes_
    return {
        f"top{k}": float(top_k_accuracy_score(y_test, scores, k=k, labels=classes)) if k < len(classes) else 1.0
        for k in top_k
    }


def knn_accuracy(train_features: Any, train_labels: Any, test_features: Any, test_labels: Any, *, k: int = 20) -> float:
    """Top-1 accuracy of a k-nearest-neighbour vote under cosine distance (a probe with no training)."""
    from sklearn.neighbors import KNeighborsClassifier

    x_train, y_train = _check_split(train_features, train_labels, "train")
    x_test, y_test = _check_split(test_features, test_labels, "test")
    k = check_int("k", k, low=1, high=len(x_train))
    model = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute")
    return float((model.fit(x_train, y_train).predict(x_test) == y_test).mean())


def linear_cka(x: Any, y: Any) -> float:
    """Linear centred kernel alignment of two representations of the same N inputs (Kornblith et al. 2019).

    CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F) with column-centred Xc (N, F1), Yc (N, F2);
    1 for representations equal up to rotation and scale, invariant to both.
    """
    a = _numpy("x", x, 2).astype(np.float64)
    b = _numpy("y", y, 2).astype(np.float64)
    if len(a) != len(b):
        raise ValueError(f"x and y must describe the same inputs: {len(a)} rows vs {len(b)}")
    a = a - a.mean(0)
    b = b - b.mean(0)
    cross = np.linalg.norm(b.T @ a) ** 2
    norm = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    if norm == 0:
        raise ValueError("linear CKA is undefined for a constant representation")
    return float(cross / norm)


def alignment(z1: torch.Tensor, z2: torch.Tensor, *, alpha: float = 2.0) -> float:
    """Wang & Isola (2020) alignment: E ||z1_i - z2_i||^alpha over positive pairs of unit vectors (lower: closer)."""
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must be (N, P) of the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    return float((z1 - z2).norm(dim=1).pow(alpha).mean())


def uniformity(z: torch.Tensor, *, t: float = 2.0) -> float:
    """Wang & Isola (2020) uniformity: log E_{i != j} exp(-t ||z_i - z_j||^2) of unit vectors (lower: more uniform)."""
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"z must be (N, P) with N >= 2, got {tuple(z.shape)}")
    sq = torch.pdist(z.double()).pow(2)  # the N (N - 1) / 2 distinct pairs
    return float(torch.logsumexp(-t * sq, dim=0) - torch.log(torch.tensor(float(len(sq)))))
