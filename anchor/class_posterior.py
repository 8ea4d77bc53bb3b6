"""What a critic can reach on Lee & Rhee's bit channels when the classes overlap in feature space.

The bit-channel samplers (``anchor.bit_channels``) state I(X; Y) = n_bits (1 - h2(p)) bits, exact
on their finite pools because no instance belongs to both classes. A critic reaches it only if it
tells the class of every instance, including the few that sit among the other class (an IMDB
review whose embedding looks like the other sentiment). ``class_posterior_mi`` gives the MI left
when each instance is seen through a classifier's posterior, and ``linear_class_posterior`` the
held-out posterior of a logistic regression, so the two together say how much of the stated MI a
critic that learns a linear view of the instances can show.
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import check_int
from .bit_channels import N_BITS, bsc_crossover


def class_posterior_mi(posterior: np.ndarray | torch.Tensor, *, mi: float, n_bits: int = N_BITS) -> float:
    """The MI, in nats, that a critic reaches when it sees each instance only through ``posterior``.

    ``posterior[c, i]`` is P(class 1 | instance i of class c's pool), shape (2, n), as a classifier
    gives it (``linear_class_posterior``). Each bit's density ratio is then
    r(e, e') = 2 sum_{a, b} q(a | e) P(b | a) q(b | e'), with P the binary symmetric channel of
    the sampler with true MI ``mi``, and the value returned is n_bits E[log r] over the joint pairs
    of the pools, summed exactly over every pair of instances (n² per class pair).

    It equals the stated MI for a posterior that is exactly the class (0 or 1), 0 for a posterior
    of 1/2 everywhere, and I(T(X); T(Y)) when ``posterior`` is the exact class posterior given a
    statistic T of the instance. So on a pool whose classes overlap it is the MI left to a critic
    that learns this classifier's view of the instances: it needs more than that (memorising
    individual instances) to reach the stated MI. An overconfident wrong posterior (exactly 0
    or 1 on the wrong class) at crossover 0 gives -inf.
    """
    q = torch.as_tensor(np.asarray(posterior, dtype=np.float64))
    if q.ndim != 2 or q.shape[0] != 2 or q.shape[1] < 1:
        raise ValueError(f"posterior must have shape (2, n): one row per class pool, got {tuple(q.shape)}")
    if not bool(torch.isfinite(q).all()) or q.min() < 0 or q.max() > 1:
        raise ValueError("posterior must hold probabilities in [0, 1]")
    n_bits = check_int("n_bits", n_bits, low=1)
    p = bsc_crossover(mi=mi, n_bits=n_bits)
    per_bit = 0.0
    for c in (0, 1):
        a = q[c][:, None]
        for c2 in (0, 1):
            weight = 0.5 * ((1 - p) if c == c2 else p)
            if weight == 0.0:
                continue
            b = q[c2][None, :]
            total = 0.0
            for start in range(0, a.shape[0], 1024):  # chunks of 1,024 x n pairs
                ac = a[start : start + 1024]
                same = (1 - ac) * (1 - b) + ac * b  # both sides name the same class
                total += torch.log(2 * ((1 - p) * same + p * (1 - same))).sum().item()
            per_bit += weight * total / (a.shape[0] * b.shape[1])
    return n_bits * per_bit


def linear_class_posterior(pools: torch.Tensor, *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Held-out P(class 1 | instance) of a logistic regression on the flattened instances, (2, n).

    ``pools`` is a sampler's (2, n, ...) instance pools; each instance's posterior comes from the
    model fitted on the other ``folds`` - 1 folds (stratified, shuffled with ``seed``), so it is
    the view of a linear classifier that has not memorised that instance.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = check_int("folds", folds, low=2)
    if pools.ndim < 2 or pools.shape[0] != 2:
        raise ValueError(f"pools must have shape (2, n, ...), got {tuple(pools.shape)}")
    n = pools.shape[1]
    features = pools.reshape(2 * n, -1).double().cpu().numpy()
    labels = np.repeat([0, 1], n)
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = LogisticRegression(C=1.0, max_iter=5000)
    posterior = cross_val_predict(model, features, labels, cv=split, method="predict_proba")[:, 1]
    return posterior.reshape(2, n)
