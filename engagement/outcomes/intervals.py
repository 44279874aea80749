"""95 % intervals for the uplift over the holdout: two proportions (Wald) for conversion rates, a
percentile bootstrap for revenue per recipient (orders are few and their totals skewed)."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054
RESAMPLES = 2_000


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def as_json(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def proportions(hits: int, size: int, base_hits: int, base_size: int) -> Interval | None:
    """hits/size minus base_hits/base_size, with the Wald 95 % interval."""
    if not size or not base_size:
        return None
    p1, p2 = hits / size, base_hits / base_size
    error = math.sqrt(p1 * (1 - p1) / size + p2 * (1 - p2) / base_size)
    return Interval(p1 - p2, p1 - p2 - Z95 * error, p1 - p2 + Z95 * error)


def mean_difference(
    values: Sequence[float], size: int, base: Sequence[float], base_size: int, seed: str
) -> Interval | None:
    """Mean per recipient minus the holdout's, where `values` are the non-zero amounts among `size`
    recipients (the rest bought nothing), with a percentile bootstrap 95 % interval. Resampling n
    recipients draws Binomial(n, k/n) of the k buyers, then which buyers uniformly: the same
    distribution as drawing recipients, at the cost of the buyers only. Seeded by `seed`, so the
    same records give the same interval in every runtime."""
    if not size or not base_size:
        return None
    rng = np.random.Generator(np.random.PCG64(zlib.crc32(seed.encode())))
    paid, base_paid = np.asarray(values, dtype=float), np.asarray(base, dtype=float)
    estimate = float(paid.sum() / size - base_paid.sum() / base_size)
    differences = np.empty(RESAMPLES)
    for n in range(RESAMPLES):
        differences[n] = _resampled_mean(rng, paid, size) - _resampled_mean(rng, base_paid, base_size)
    low, high = np.percentile(differences, [2.5, 97.5])
    return Interval(estimate, float(low), float(high))


def _resampled_mean(rng: np.random.Generator, paid: np.ndarray, size: int) -> float:
    if not len(paid):
        return 0.0
    buyers = int(rng.binomial(size, len(paid) / size))
    return float(paid[rng.integers(0, len(paid), buyers)].sum() / size)
