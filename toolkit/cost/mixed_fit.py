"""A measured correction for iterations that mix prefill chunks and decodes.

`ProfiledCostModel` prices a mixed iteration as W + Σ (part − W) from the separate prefill
and decode tables. When a profile also holds measured mixed iterations (`mixed[]` rows:
batch, ctx, n_new, n_cached, s), `MixedCorrectedCostModel` fits the residual of those rows
as c0 + c1·num_decode by least squares and adds it to every iteration that has both parts.
It also carries the measured extra time of a request arriving at an idle engine (`wake`
rows; see `toolkit.profiling.profile`).
"""

from __future__ import annotations

import numpy as np

from toolkit.cost.base import BatchShape, CostModel


def fit_mixed_residual(base: CostModel, rows: list[dict]) -> tuple[float, float]:
    """(c0, c1) minimising Σ (s − base − c0 − c1·batch)² over the measured mixed rows."""
    if not rows:
        return 0.0, 0.0
    design, residual = [], []
    for r in rows:
        shape = BatchShape((r["n_new"],), (r["n_cached"],), r["batch"], r["batch"] * r["ctx"])
        design.append((1.0, float(r["batch"])))
        residual.append(r["s"] - base.iteration_s(shape))
    (c0, c1), *_ = np.linalg.lstsq(np.array(design), np.array(residual), rcond=None)
    return float(c0), float(c1)


class MixedCorrectedCostModel(CostModel):
    """`base`, plus c0 + c1·num_decode on iterations with both prefill and decode work, plus
    the measured wake-up cost of the first iteration after idleness
    (`wake`: rows of idle_s and extra_s, interpolated linearly, constant beyond the last row;
    0 at no idleness unless a row gives idle_s = 0)."""

    def __init__(self, base: CostModel, c0_s: float, c1_s: float,
                 wake: list[dict] | None = None) -> None:
        self.base = base
        self.c0_s = c0_s
        self.c1_s = c1_s
        rows = sorted(wake or [], key=lambda r: r["idle_s"])
        if not rows or rows[0]["idle_s"] > 0:
            rows = [dict(idle_s=0.0, extra_s=0.0), *rows]
        self._wake_x = np.array([r["idle_s"] for r in rows])
        self._wake_y = np.array([max(0.0, r["extra_s"]) for r in rows])

    def wake_s(self, idle_s: float) -> float:
        return float(np.interp(idle_s, self._wake_x, self._wake_y))

    def iteration_s(self, batch: BatchShape) -> float:
        t = self.base.iteration_s(batch)
        if batch.num_decode and any(batch.prefill_new):
            t += self.c0_s + self.c1_s * batch.num_decode
        return t

    def decode_steps_s(self, num_decode: int, decode_ctx_sum: int, num_steps: int) -> np.ndarray:
        return self.base.decode_steps_s(num_decode, decode_ctx_sum, num_steps)
