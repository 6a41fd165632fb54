"""Small, dependency-free statistics for scoring deviations (tails and multiple-test correction)."""

from __future__ import annotations

import math

__all__ = ["binomial_sf", "logistic", "normal_sf", "sidak"]


def normal_sf(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed exactly in log space."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    lg_n1 = math.lgamma(n + 1)
    total = 0.0
    for i in range(k, n + 1):
        term = math.exp(
            lg_n1 - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        )
        total += term
        if i > n * p and term < total * 1e-17:
            break
    return min(1.0, total)


def sidak(p: float, tests: int) -> float:
    """1 - family-wise p-value: the chance that none of ``tests`` null tests is this extreme.

    Šidák's correction, ``(1 - p) ** tests``: a score in [0, 1] that is high only
    when the observation would be rare even among all the tests that were made.
    """
    p = min(1.0, max(0.0, p))
    if p >= 1.0:
        return 0.0
    return min(1.0, max(0.0, math.exp(max(1, tests) * math.log1p(-p))))


def logistic(x: float, center: float, scale: float) -> float:
    """A score in (0, 1): 0.5 at ``center``, rising with ``x`` over about ``scale``."""
    return 1.0 / (1.0 + math.exp(-(x - center) / max(scale, 1e-9)))
