"""Medians and spreads of repeated runs."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Several runs of one figure: the median is the figure, min and max show how far runs strayed."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    @property
    def relative(self) -> float:
        """(max - min) / median: 0.1 means the runs lay within 10% of the figure."""
        return (self.high - self.low) / self.median if self.median else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "runs": list(self.values),
        }


def spread(values: list[float]) -> Spread:
    if not values:
        raise ValueError("no runs to summarise")
    return Spread(tuple(values))


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (fraction 0.99 for p99) of unsorted values."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]
