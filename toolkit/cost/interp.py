"""Fast piecewise-bilinear lookup on a rectilinear grid, and monotone grid extension.

Each cell's bilinear form is stored expanded as `a + b*x + c*y + d*x*y`, so one lookup is
two `bisect` calls and four multiply-adds. Bilinear interpolation of a grid whose values
are non-decreasing along both axes is non-decreasing everywhere inside the grid; plain
bilinear *extrapolation* is not (a cross term can turn a slope negative), so
`extend_monotone` adds synthetic edge lines (the domain's low end and a far high end)
holding the extrapolated values, made monotone without touching measured points. Inside
the far cells bilinear interpolation equals the edge cell's linear extrapolation.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

import numpy as np


class BilinearGrid:
    """f(x, y) interpolating `values[i][j]` given at (`xs[i]`, `ys[j]`), extrapolating
    linearly outside. Both axes need at least two strictly increasing points and every
    value must be finite (fill gaps first with `fill_missing`)."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], values: np.ndarray) -> None:
        vals = np.asarray(values, dtype=float)
        if len(xs) < 2 or len(ys) < 2 or vals.shape != (len(xs), len(ys)):
            raise ValueError(f"grid needs >=2 points per axis; got {len(xs)}x{len(ys)}")
        if not np.all(np.isfinite(vals)):
            raise ValueError("grid has missing values; call fill_missing first")
        self.xs = [float(x) for x in xs]
        self.ys = [float(y) for y in ys]
        self.values = vals
        coef = np.empty((len(xs) - 1, len(ys) - 1, 4))
        for i in range(len(xs) - 1):
            for j in range(len(ys) - 1):
                coef[i, j] = _cell_coefficients(self.xs, self.ys, vals, i, j)
        self.coef = coef
        self._cells = [
            [tuple(float(v) for v in coef[i, j]) for j in range(coef.shape[1])]
            for i in range(coef.shape[0])
        ]
        self._nx, self._ny = len(xs) - 2, len(ys) - 2

    def __call__(self, x: float, y: float) -> float:
        i = bisect_right(self.xs, x) - 1
        j = bisect_right(self.ys, y) - 1
        i = 0 if i < 0 else (self._nx if i > self._nx else i)
        j = 0 if j < 0 else (self._ny if j > self._ny else j)
        a, b, c, d = self._cells[i][j]
        return a + b * x + (c + d * x) * y

    def at_x(self, x: float) -> list[tuple[float, float]]:
        """Each cell row's form at a fixed `x`: (a + b*x, c + d*x) by y cell, so that
        `f(x, y) = p + q * y` for the cell `y_cell(y)` holds with the very floats `f` gives
        (`f` clamps `bisect_right(ys, y) - 1` to 0..len(ys) - 2, as `y_cell` does)."""
        i = bisect_right(self.xs, x) - 1
        i = 0 if i < 0 else (self._nx if i > self._nx else i)
        return [(a + b * x, c + d * x) for a, b, c, d in self._cells[i]]

    def y_cell(self, y: float) -> int:
        """The index of the cell column that `f` uses for `y`."""
        j = bisect_right(self.ys, y) - 1
        return 0 if j < 0 else (self._ny if j > self._ny else j)

    def along_y(self, x: float, ys: np.ndarray) -> np.ndarray:
        """f(x, y) for an array of y at one x (vectorised; equal to calling f per y)."""
        i = min(max(bisect_right(self.xs, x) - 1, 0), self._nx)
        j = np.clip(np.searchsorted(self.ys, ys, side="right") - 1, 0, self._ny)
        a, b, c, d = self.coef[i, j].T
        return a + b * x + (c + d * x) * ys


def _cell_coefficients(
    xs: list[float], ys: list[float], v: np.ndarray, i: int, j: int
) -> tuple[float, float, float, float]:
    x0, x1, y0, y1 = xs[i], xs[i + 1], ys[j], ys[j + 1]
    dx, dy = x1 - x0, y1 - y0
    f00, f10, f01, f11 = v[i, j], v[i + 1, j], v[i, j + 1], v[i + 1, j + 1]
    big_b, big_c, big_d = f10 - f00, f01 - f00, f11 - f10 - f01 + f00
    d = big_d / (dx * dy)
    b = big_b / dx - d * y0
    c = big_c / dy - d * x0
    a = f00 - big_b * x0 / dx - big_c * y0 / dy + d * x0 * y0
    return float(a), float(b), float(c), float(d)


def extend_monotone(
    xs: Sequence[float],
    ys: Sequence[float],
    vals: np.ndarray,
    lo: tuple[float, float],
    hi: tuple[float, float],
) -> BilinearGrid:
    """A grid over [lo, hi] that equals `vals` (already non-decreasing) at its points, is
    non-decreasing everywhere in the box, and elsewhere follows linear extrapolation,
    corrected only where that would decrease: the low lines are lowered to at most their
    successors (suffix minimum), then the far lines raised to at least their predecessors
    (prefix maximum)."""
    base = BilinearGrid(xs, ys, vals)
    ex = ([lo[0]] if lo[0] < xs[0] else []) + list(xs) + [hi[0]]
    ey = ([lo[1]] if lo[1] < ys[0] else []) + list(ys) + [hi[1]]
    v = np.array([[base(x, y) for y in ey] for x in ex])
    near = lower_monotone_envelope(v[:-1, :-1])
    v[:-1, :-1] = near
    v = np.maximum.accumulate(np.maximum.accumulate(v, axis=0), axis=1)
    return BilinearGrid(ex, ey, v)


def table_to_grid(
    points: Sequence[tuple[float, float, float]],
) -> tuple[list[float], list[float], np.ndarray]:
    """(x, y, value) triples -> sorted axes and a value matrix, NaN where a point is missing."""
    xs = sorted({p[0] for p in points})
    ys = sorted({p[1] for p in points})
    vals = np.full((len(xs), len(ys)), math.nan)
    for x, y, v in points:
        vals[xs.index(x), ys.index(y)] = v
    return xs, ys, vals


def fill_missing(xs: Sequence[float], vals: np.ndarray) -> np.ndarray:
    """Fill NaN cells by linear extrapolation along x from the two previous x at the same y
    (e.g. the batch-256 x ctx-8192 corner missing from the decode tables)."""
    out = vals.copy()
    for i, j in zip(*np.nonzero(np.isnan(out))):
        if i < 2 or np.isnan(out[i - 1, j]) or np.isnan(out[i - 2, j]):
            raise ValueError(f"cannot fill missing grid point at x index {i}, y index {j}")
        slope = (out[i - 1, j] - out[i - 2, j]) / (xs[i - 1] - xs[i - 2])
        out[i, j] = out[i - 1, j] + slope * (xs[i] - xs[i - 1])
    return out


def lower_monotone_envelope(vals: np.ndarray) -> np.ndarray:
    """The largest table non-decreasing along both axes that lies at or below `vals`:
    env[i, j] = min(vals[i:, j:]). Removes launch-overhead noise of eager-mode tables
    (e.g. a 128-token prefill measured slower than a 512-token one)."""
    env = np.minimum.accumulate(vals[::-1, :], axis=0)[::-1, :]
    return np.minimum.accumulate(env[:, ::-1], axis=1)[:, ::-1]
