"""What a decode step costs when each sequence verifies q tokens (q - 1 draft tokens and
the last accepted one), interpolated from measured speculative-verify steps."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from toolkit.cost.calibration import GRAPH_FILE, load_json

VERIFY_JSONL = Path(__file__).resolve().parent / "data" / "h200_verify_tp_gather.jsonl"
"""The second H200 run's `A_verify` rows (batch B, q query tokens, context 2048, ms)."""


class VerifyCost:
    """Step seconds by (batch, q, ctx) from a grid of measured points: linear in log2(batch)
    and log2(q) between them, linear in ctx between measured contexts (clamped outside),
    and linear in batch beyond the largest measured batch (where a step is compute-bound).

    `points`: (batch, q, ctx, seconds), a full batch x q x ctx grid."""

    def __init__(self, points: Sequence[tuple[float, float, float, float]]) -> None:
        if not points:
            raise ValueError("VerifyCost: no points")
        self.batches = np.array(sorted({p[0] for p in points}), float)
        self.qs = np.array(sorted({p[1] for p in points}), float)
        self.ctxs = np.array(sorted({p[2] for p in points}), float)
        grid = np.full((len(self.ctxs), len(self.batches), len(self.qs)), np.nan)
        for b, q, c, s in points:
            grid[np.searchsorted(self.ctxs, c), np.searchsorted(self.batches, b),
                 np.searchsorted(self.qs, q)] = s
        if np.isnan(grid).any():
            raise ValueError("VerifyCost: the points are not a full batch x q x ctx grid")
        self.grid = grid

    @classmethod
    def from_graph_table(cls, path: str | Path = GRAPH_FILE) -> VerifyCost:
        """The `verify[]` rows of a calibration JSON (`batch`, `ctx`, `k0`, `k1`, ...:
        seconds with k draft tokens, q = k + 1); default: the packaged H200 llama3-8b table
        (its k >= 1 steps run a different attention path than its k = 0 CUDA graph)."""
        points = []
        for r in load_json(path)["verify"]:
            for key, s in r.items():
                if m := re.fullmatch(r"k(\d+)", key):
                    points.append((r["batch"], int(m.group(1)) + 1, r["ctx"], s))
        return cls(points)

    @classmethod
    def from_jsonl(cls, path: str | Path = VERIFY_JSONL, part: str = "A_verify") -> VerifyCost:
        """`part` rows of a JSON-lines calibration file (`B`, `q`, `ctx`, `ms`); default:
        the packaged copy of `../shared/calibration/h200_verify_tp_gather.jsonl`."""
        points = []
        for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
            row = json.loads(line)
            if row.get("part") == part:
                try:
                    points.append((row["B"], row["q"], row["ctx"], row["ms"] / 1e3))
                except KeyError as exc:
                    raise ValueError(f"{path}:{n}: {part} row without {exc}") from exc
        return cls(points)

    def points(self) -> list[tuple[float, float, float, float]]:
        """The measured (batch, q, ctx, seconds) points."""
        return [(b, q, c, float(self.grid[i, j, n])) for i, c in enumerate(self.ctxs)
                for j, b in enumerate(self.batches) for n, q in enumerate(self.qs)]

    def _at_ctx(self, ctx: float) -> np.ndarray:
        if len(self.ctxs) == 1:
            return self.grid[0]
        c = float(np.clip(ctx, self.ctxs[0], self.ctxs[-1]))
        i = int(np.clip(np.searchsorted(self.ctxs, c) - 1, 0, len(self.ctxs) - 2))
        w = (c - self.ctxs[i]) / (self.ctxs[i + 1] - self.ctxs[i])
        return (1 - w) * self.grid[i] + w * self.grid[i + 1]

    def __call__(self, batch: float, q: float, ctx: float) -> float:
        """Seconds of one step: `batch` sequences, `q` query tokens each (1 = plain
        decode; fractional = the mean over the batch), `ctx` cached tokens each."""
        if batch <= 0:
            return 0.0
        table = self._at_ctx(ctx)
        lq = np.log2(np.clip(q, self.qs[0], self.qs[-1]))
        by_batch = np.array([np.interp(lq, np.log2(self.qs), row) for row in table])
        top = self.batches[-1]
        if batch > top and len(self.batches) > 1:
            slope = (by_batch[-1] - by_batch[-2]) / (top - self.batches[-2])
            return float(by_batch[-1] + slope * (batch - top))
        return float(np.interp(np.log2(max(batch, self.batches[0])), np.log2(self.batches),
                               by_batch))
