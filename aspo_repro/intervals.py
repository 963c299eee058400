"""95% intervals of reproduced scores and of differences between them, from two sources of noise.

A mini table's cell is the mean over training seeds of one benchmark score. Two things make it
uncertain, and the interval carries both:

- **seeds**: training runs of one setting differ (LoRA initialisation, data order); their spread
  s over n seeds gives the half-width ``t(0.975, n - 1) * s / sqrt(n)`` (none with one seed);
- **items**: the benchmark is a finite sample of questions or images. Every score is a ratio of
  sums over its items (``evaluation.metrics.METRICS``), kept per item in the result, so the
  mean over seeds is recomputed on item sets drawn with replacement (``DRAWS`` times; the same
  draws for every run of one benchmark, so differences are paired item by item); the half-width
  is half the central 95% range of those means. mini-SHR resamples whole descriptions (their
  sentences go together), the other benchmarks questions (mini-MMB: a question with its rotations).

The two are independent, so their half-widths add in quadrature. A difference between two
settings (a method against its base model, ASPO against DPO) is treated the same way: seeds
paired by seed id (a seed fixes the adapter's initialisation and the data order for every
method), items paired through the shared draws. A difference is
significant when its interval excludes 0. A paper-profile cell comes from one training seed per
run (MMBench, MM-Vet, LLaVA-W and the rest keep their items too), so its interval has the item part only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DRAWS = 1000
LEVEL = 0.95

# One run's items: per task, an (items, 2) array of (numerator, denominator).
RunItems = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Interval:
    """A mean and its 95% interval, with the half-width each source contributes."""

    mean: float
    low: float
    high: float
    n: int  # seeds (runs) behind the mean
    seed_half: float | None  # None with one seed on a side
    item_half: float | None  # None when the runs kept no items

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def sources(self) -> str:
        """What the interval covers: ``seeds+items``, ``seeds``, ``items`` or ``none``."""
        parts = [name for name, half in (("seeds", self.seed_half), ("items", self.item_half)) if half is not None]
        return "+".join(parts) or "none"


@lru_cache(maxsize=256)
def resampling_weights(task: str, size: int, draws: int = DRAWS) -> np.ndarray:
    """(draws, size) counts: how often each item is drawn in each resample. Fixed by the task and
    its size, so every run of the task is resampled alike (paired) and tables are reproducible."""
    rng = np.random.default_rng(abs(hash_text(task)) + size)
    return rng.multinomial(size, np.full(size, 1.0 / size), size=draws).astype(np.float64)


def hash_text(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode())


def resampled_values(items: RunItems, scale: float, draws: int = DRAWS) -> np.ndarray:
    """The run's score (mean over tasks of sum(num) / sum(den), x ``scale``) on each resample."""
    per_task = []
    for task, pairs in sorted(items.items()):
        pairs = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
        sums = resampling_weights(task, len(pairs), draws) @ pairs  # (draws, 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_task.append(sums[:, 0] / sums[:, 1])
    return scale * np.mean(per_task, axis=0)


def _t_quantile(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + LEVEL / 2, df))


def _seed_half(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    return _t_quantile(len(values) - 1) * float(np.std(values, ddof=1)) / math.sqrt(len(values))


def _item_half(resampled: np.ndarray | None) -> float | None:
    if resampled is None:
        return None
    finite = resampled[np.isfinite(resampled)]
    if len(finite) < 2:
        return None
    low, high = np.percentile(finite, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    return float(high - low) / 2


def _combine(mean: float, n: int, seed_half: float | None, item_half: float | None) -> Interval:
    half = math.sqrt((seed_half or 0.0) ** 2 + (item_half or 0.0) ** 2)
    return Interval(mean, mean - half, mean + half, n, seed_half, item_half)


def estimate(values: Sequence[float], draws: Sequence[np.ndarray | None] = ()) -> Interval:
    """The mean of ``values`` (one per seed) with its interval; ``draws`` holds each seed's
    resampled values (``resampled_values``), or is empty when the runs kept no items."""
    if not values:
        raise ValueError("an estimate needs at least one value")
    mean = float(np.mean(values))
    return _combine(mean, len(values), _seed_half(values), _item_half(average_draws(list(draws))))


def difference(values_a: Sequence[float], values_b: Sequence[float],
               draws_a: Sequence[np.ndarray | None] = (), draws_b: Sequence[np.ndarray | None] = (),
               seeds_a: Sequence[int] = (), seeds_b: Sequence[int] = ()) -> Interval:
    """``mean(a) - mean(b)`` with its interval. With several seeds on both sides, seeds are paired by
    id (``seeds_a``, ``seeds_b``: only the seeds both sides have count; without ids, by position when
    both sides have as many); one value on a side (a base model, which no seed trains) is a constant;
    otherwise the sides' seed spreads are combined unpaired."""
    if not values_a or not values_b:
        raise ValueError("a difference needs values on both sides")
    if len(values_a) > 1 and len(values_b) > 1 and seeds_a and seeds_b:
        values_a, draws_a, values_b, draws_b = _common_seeds(values_a, draws_a, seeds_a, values_b, draws_b, seeds_b)
    mean = float(np.mean(values_a) - np.mean(values_b))
    if len(values_a) == len(values_b) and len(values_a) > 1:
        seed_half = _seed_half([a - b for a, b in zip(values_a, values_b)])
    elif len(values_b) == 1 or len(values_a) == 1:
        seed_half = _seed_half(values_a if len(values_b) == 1 else values_b)
    else:
        halves = [_seed_half(values_a), _seed_half(values_b)]
        seed_half = math.sqrt(sum(h * h for h in halves)) if all(h is not None for h in halves) else None
    a, b = average_draws(list(draws_a)), average_draws(list(draws_b))
    item_half = _item_half(a - b) if a is not None and b is not None else None
    return _combine(mean, min(len(values_a), len(values_b)), seed_half, item_half)


def _common_seeds(values_a, draws_a, seeds_a, values_b, draws_b, seeds_b):
    """Both sides restricted to the seed ids they share, in the same order."""
    if len(set(seeds_a)) != len(seeds_a) or len(set(seeds_b)) != len(seeds_b):
        raise ValueError("seed ids must be unique on each side")
    common = sorted(set(seeds_a) & set(seeds_b))
    if len(common) < 2:
        return values_a, draws_a, values_b, draws_b  # nothing to pair: combined unpaired
    def pick(sequence, seeds):
        at = {seed: i for i, seed in enumerate(seeds)}
        return [sequence[at[seed]] for seed in common] if sequence else sequence

    return pick(values_a, seeds_a), pick(draws_a, seeds_a), pick(values_b, seeds_b), pick(draws_b, seeds_b)


def average_draws(draws: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """The mean of several runs' or benchmarks' resampled values, draw by draw (seeds of one cell, or a
    table's Avg, each benchmark's items resampled on their own); None when any side kept no items."""
    if not draws or any(d is None for d in draws):
        return None
    return np.mean(np.stack(draws), axis=0)
