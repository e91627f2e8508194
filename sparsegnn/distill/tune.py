"""A distillation loss's settings chosen on validation accuracy: :func:`grid_points` spells a
small grid out, :func:`choose_on_validation` picks its point from the runs' validation
accuracies alone (the test accuracies are only reported at the chosen point)."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KD_GRID: dict[str, tuple[float, ...]] = {"alpha": (0.5, 0.9), "temperature": (1.0, 2.0, 4.0)}  # LogitKD's


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of ``grid``'s values, one dict per point (the last name varies fastest:
    ``{"alpha": (0.5, 0.9), "temperature": (1, 4)}`` gives (0.5, 1), (0.5, 4), (0.9, 1), (0.9, 4))."""
    if not grid or any(isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or not v for v in grid.values()):
        raise ValueError(f"grid: expected names mapped to non-empty sequences of values, got {grid!r}")
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


@dataclass(frozen=True)
class GridChoice:
    """The point of a grid chosen on validation.

    Attributes:
        points: the grid's settings, in the order given.
        val_mean: per point, the mean validation accuracy over the seeds.
        best: index into ``points`` of the chosen one (highest ``val_mean``; the earliest on a tie).
        test: the chosen point's test accuracy per seed.
    """

    points: list[dict[str, Any]]
    val_mean: list[float]
    best: int
    test: list[float]

    @property
    def settings(self) -> dict[str, Any]:
        return self.points[self.best]

    @property
    def test_mean(self) -> float:
        return statistics.mean(self.test)

    @property
    def test_std(self) -> float:
        return statistics.stdev(self.test) if len(self.test) > 1 else 0.0


def choose_on_validation(
    points: Sequence[dict[str, Any]],
    val: Sequence[Sequence[float]],
    test: Sequence[Sequence[float]],
) -> GridChoice:
    """The point with the highest mean validation accuracy over the seeds (ties: the earliest
    point), and its test accuracies; ``test`` is read at that point only, never to choose.

    Args:
        points: the grid's settings (e.g. :func:`grid_points` of :data:`KD_GRID`).
        val, test: per point, one accuracy per seed, the same seeds in the same order for every
            point (``val[i][s]``, ``test[i][s]``: point ``i``, seed ``s``).
    """
    if not points:
        raise ValueError("points: expected at least one grid point")
    if len(val) != len(points) or len(test) != len(points):
        raise ValueError(f"val, test: expected one list per point ({len(points)}), got {len(val)} and {len(test)}")
    seeds = {len(v) for v in val} | {len(t) for t in test}
    if len(seeds) != 1 or 0 in seeds:
        raise ValueError(f"val, test: expected the same number (>= 1) of seeds for every point, got {sorted(seeds)}")
    means = [statistics.mean(v) for v in val]
    best = max(range(len(points)), key=lambda i: (means[i], -i))
    return GridChoice([dict(p) for p in points], means, best, list(test[best]))
