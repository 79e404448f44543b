"""Iteration times interpolated from measured tables (H200 by default).

Tables. Prefill time P(n_new, n_cached) of one sequence comes from the eager `prefill`
table of `h200_llama_profile.json`; for llama3-8b at tp 1 the CUDA-graph `prefill_graph`
table of `h200_llama8b_graph_verify.json` replaces it wherever it has points (n_new <= 4096),
the eager row n_new = 8192 extends it. Decode time D(batch, ctx) of one step is the
`graph_s` column (`use_mean`: each row's `mean_s` where a profile written by
`toolkit.profiling.profile` has it, in place of `s` and `graph_s`). Gaps in a grid (the batch-256 x ctx-8192 corner) are filled by linear
extrapolation along batch. Each table is then replaced by its lower monotone envelope
(env[i, j] = min over all points with larger-or-equal n and ctx): eager prefills of a few
hundred tokens are launch-bound, so a 128-token prefill can measure slower than a 512-token
one; the envelope keeps the faster measurement. Points on the envelope are reproduced
exactly; `adjusted_points()` lists the others.

Interpolation. Piecewise bilinear in linear (n, ctx) and (batch, ctx) space: within a cell
the form a + b*n + c*ctx + d*n*ctx is exact for the first-order cost model (weights + per
token compute + per context-token attention + their product), whereas log-space would bend
an affine curve. Beyond the grid the edge cell's form continues (linear extrapolation);
every result is floored at W, the cheapest measured iteration (a one-sequence decode: reading
the weights once plus launch overhead), so extrapolation toward zero tokens never undercuts
what any iteration costs.

Mixed batches. An iteration pays W once (weights are streamed once, kernels launched once)
plus each part's marginal cost over W: with parts j = each prefill chunk P(n_i, ctx_i) and
the decode group D(B, ctx_sum / B),

    T = W + sum_j (T_j - W) + AR(total new tokens).

With one part this is the table exactly; since every T_j >= W, T lies between the largest
part and the sum of the separately run parts, and it is monotone in every n_new and ctx.
The marginal of a prefill is its token-proportional linear/MLP work plus its attention;
the marginal of the decode group is its per-sequence attention over the contexts plus the
MLP work of B tokens. Decode contexts enter only through their mean (BatchShape carries
the sum), which is exact for the bilinear form because attention reads scale with B * ctx.

Tensor parallelism. For tp > 1 the tables measure one GPU's shard (communication
excluded), and AR(N) adds 2 * num_layers all-reduces of N * hidden * 2 bytes (see `comm`).
The tp > 1 prefill tables are eager only, so short prefills there carry launch overhead
(~10-20 ms) that a CUDA-graph engine would not pay.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate
from pathlib import Path

import numpy as np

from toolkit.core import ConfigError
from toolkit.cost import calibration as cal
from toolkit.cost.base import BatchShape, CostModel
from toolkit.cost.comm import ALLREDUCE_BUS_EFFICIENCY, ALLREDUCE_LATENCY_S, AllReduceCost
from toolkit.cost.interp import (
    BilinearGrid,
    extend_monotone,
    fill_missing,
    lower_monotone_envelope,
    table_to_grid,
)
from toolkit.cost.specs import get_gpu_spec, get_model_spec
from toolkit.cost.steps import iteration_steps_s

Point = tuple[float, float, float]

_SHORT_RUN = 64
"""Decode runs up to this many steps are timed in plain Python, longer ones with numpy."""

_ARANGE = np.arange(0)


def _arange(n: int) -> np.ndarray:
    """`np.arange(n)` (int64), as a view of one cached array."""
    global _ARANGE
    if n > len(_ARANGE):
        _ARANGE = np.arange(max(n, 2 * len(_ARANGE)))
    return _ARANGE[:n]


class ProfiledCostModel(CostModel):
    """Interpolates measured prefill and decode tables of one (model, tp) on one GPU type.

    `calibration_path` names a file laid out like `h200_llama_profile.json` (default: the
    packaged copy). `graph_calibration_path` names a file with a `prefill_graph` table for
    llama3-8b tp 1 (default: the packaged one when `calibration_path` is the default; pass
    it explicitly otherwise). `use_graph_prefill=False` keeps the eager table. `use_mean`
    reads each row's `mean_s` (the mean step; rows without it keep their median).
    """

    def __init__(
        self,
        model: str = "llama3-8b",
        tp: int = 1,
        gpu: str = "h200",
        calibration_path: str | Path | None = None,
        graph_calibration_path: str | Path | None = None,
        use_graph_prefill: bool = True,
        allreduce_latency_s: float = ALLREDUCE_LATENCY_S,
        allreduce_bus_efficiency: float = ALLREDUCE_BUS_EFFICIENCY,
        use_mean: bool = False,
    ) -> None:
        self.model, self.gpu, self.tp = get_model_spec(model), get_gpu_spec(gpu), tp
        profile = cal.load_json(str(calibration_path or cal.PROFILE_FILE))
        _check_device(profile, self.gpu.name)
        entry = cal.find_entry(profile, self.model.name, tp)
        if graph_calibration_path is None and calibration_path is None:
            graph_calibration_path = cal.GRAPH_FILE
        graph = None
        if use_graph_prefill and graph_calibration_path and tp == 1:
            graph = cal.load_json(str(graph_calibration_path))
            if graph.get("info", {}).get("model", self.model.name) != self.model.name:
                graph = None
        self.prefill_points = _prefill_points(entry, graph, use_mean)
        dkey = ("mean_s", "graph_s") if use_mean else ("graph_s",)
        self.decode_points = [(d["batch"], d["ctx"], _first(d, dkey)) for d in entry["decode"]]
        self.prefill_grid, prefill_min = _envelope_grid(self.prefill_points)
        self.decode_grid, decode_min = _envelope_grid(self.decode_points)
        self.floor_s = min(prefill_min, decode_min)
        self._decode_cells: dict[int, list[tuple[float, float]]] = {}  # at_x by batch
        self._prefill_cells: dict[int, list[tuple[float, float]]] = {}  # at_x by chunk
        self._decode_ys = self.decode_grid.ys
        self.allreduce = AllReduceCost(
            self.model, self.gpu, tp, allreduce_latency_s, allreduce_bus_efficiency
        )

    def iteration_s(self, batch: BatchShape) -> float:
        """W + sum of each part's cost over W + all-reduce (see the module docstring)."""
        prefill_new, prefill_ctx, num_decode, decode_ctx_sum = batch
        floor, grid = self.floor_s, self.prefill_grid
        total, parts, tokens = 0.0, 0, num_decode
        for n, c in zip(prefill_new, prefill_ctx):
            if n > 0:
                t = grid(n, c)
                total += t if t > floor else floor
                parts += 1
                tokens += n
        if num_decode > 0:
            t = self.decode_grid(num_decode, decode_ctx_sum / num_decode)
            total += t if t > floor else floor
            parts += 1
        if parts == 0:
            return 0.0
        return total - (parts - 1) * floor + self.allreduce(tokens)

    def prefill_chunk_steps_s(self, chunk: int, num_prefilled: int, num_decode: int,
                              decode_ctx_sum: int, num_steps: int) -> list[float]:
        """A run of one-chunk iterations (see `toolkit.cost.steps`): exactly the floats of
        `iteration_s` per iteration, with the per-run constants computed once."""
        if chunk <= 0 or type(self).iteration_s is not ProfiledCostModel.iteration_s:
            return iteration_steps_s(self, chunk, num_prefilled, num_decode, decode_ctx_sum,
                                     num_steps)
        floor, pre, dec = self.floor_s, self.prefill_grid, self.decode_grid
        pre_cells = self._prefill_cells.get(chunk)
        if pre_cells is None:
            pre_cells = self._prefill_cells[chunk] = pre.at_x(chunk)
        pre_ys, pre_ny = pre.ys, len(pre.ys) - 2
        sub = (2 - 1 if num_decode > 0 else 1 - 1) * floor  # (parts - 1) * floor
        ar = self.allreduce(num_decode + chunk)
        inf = math.inf
        # cell indices as in `BilinearGrid.__call__`; contexts only grow, so each cell
        # holds until the context reaches the cell's upper grid line
        j = bisect_right(pre_ys, num_prefilled) - 1
        j = 0 if j < 0 else (pre_ny if j > pre_ny else j)
        pre_hi = pre_ys[j + 1] if j < pre_ny else inf
        pp, pq = pre_cells[j]
        last = num_steps - 1
        # one cell per grid over the whole run and no floor (t only grows within a cell
        # when q >= 0): one expression per iteration, the same operations as below
        one_pre = (num_steps > 0 and pq >= 0.0 and num_prefilled + last * chunk < pre_hi
                   and pp + pq * num_prefilled >= floor)
        out = []
        if num_decode <= 0:
            if one_pre:
                return [0.0 + (pp + pq * (num_prefilled + k * chunk)) - sub + ar
                        for k in range(num_steps)]
            for k in range(num_steps):
                c = num_prefilled + k * chunk
                if c >= pre_hi:
                    j = bisect_right(pre_ys, c) - 1
                    j = pre_ny if j > pre_ny else j
                    pre_hi = pre_ys[j + 1] if j < pre_ny else inf
                    pp, pq = pre_cells[j]
                t = pp + pq * c
                total = 0.0 + (t if t > floor else floor)
                out.append(total - sub + ar)
            return out
        dec_cells = self._decode_cells.get(num_decode)
        if dec_cells is None:
            dec_cells = self._decode_cells[num_decode] = dec.at_x(num_decode)
        dec_ys, dec_ny = dec.ys, len(dec.ys) - 2
        y = decode_ctx_sum / num_decode
        i = bisect_right(dec_ys, y) - 1
        i = 0 if i < 0 else (dec_ny if i > dec_ny else i)
        dec_hi = dec_ys[i + 1] if i < dec_ny else inf
        dp, dq = dec_cells[i]
        if (one_pre and dq >= 0.0 and (decode_ctx_sum + last * num_decode) / num_decode < dec_hi
                and dp + dq * y >= floor):
            return [0.0 + (pp + pq * (num_prefilled + k * chunk))
                    + (dp + dq * ((decode_ctx_sum + k * num_decode) / num_decode)) - sub + ar
                    for k in range(num_steps)]
        for k in range(num_steps):
            c = num_prefilled + k * chunk
            if c >= pre_hi:
                j = bisect_right(pre_ys, c) - 1
                j = pre_ny if j > pre_ny else j
                pre_hi = pre_ys[j + 1] if j < pre_ny else inf
                pp, pq = pre_cells[j]
            t = pp + pq * c
            total = 0.0 + (t if t > floor else floor)
            y = (decode_ctx_sum + k * num_decode) / num_decode
            if y >= dec_hi:
                i = bisect_right(dec_ys, y) - 1
                i = dec_ny if i > dec_ny else i
                dec_hi = dec_ys[i + 1] if i < dec_ny else inf
                dp, dq = dec_cells[i]
            t = dp + dq * y
            total += t if t > floor else floor
            out.append(total - sub + ar)
        return out

    def decode_steps_s(self, num_decode: int, decode_ctx_sum: int, num_steps: int) -> np.ndarray:
        """Vectorised: identical to looping `iteration_s` over the steps."""
        if num_decode <= 0 or num_steps <= 0:
            return np.zeros(max(num_steps, 0))
        ctx = (decode_ctx_sum + np.arange(num_steps) * num_decode) / num_decode
        t = np.maximum(self.decode_grid.along_y(num_decode, ctx), self.floor_s)
        return t + self.allreduce(num_decode)

    def decode_steps_cum_s(self, num_decode: int, decode_ctx_sum: int,
                           num_steps: int) -> list[float] | np.ndarray:
        """`np.cumsum(self.decode_steps_s(...))`, the very floats (the same per-step
        operations, summed one after another), as a list or an array; short runs in plain
        Python, long ones vectorised with the per-run constants taken out."""
        if (num_decode <= 0 or num_steps <= 0
                or type(self).decode_steps_s is not ProfiledCostModel.decode_steps_s):
            return np.cumsum(self.decode_steps_s(num_decode, decode_ctx_sum, num_steps))
        cells = self._decode_cells.get(num_decode)
        if cells is None:
            cells = self._decode_cells[num_decode] = self.decode_grid.at_x(num_decode)
        floor, ar = self.floor_s, self.allreduce(num_decode)
        ys = self._decode_ys
        ny = len(ys) - 2
        y0 = decode_ctx_sum / num_decode
        j = bisect_right(ys, y0) - 1
        j = 0 if j < 0 else (ny if j > ny else j)
        if num_steps > _SHORT_RUN:
            y_last = (decode_ctx_sum + (num_steps - 1) * num_decode) / num_decode
            if y_last < (ys[j + 1] if j < ny else math.inf):  # one cell: p + q * y for all
                ctx = (decode_ctx_sum + _arange(num_steps) * num_decode) / num_decode
                p, q = cells[j]
                t = ctx * q
                t += p
                if not (q >= 0.0 and p + q * y0 >= floor):  # else t grows from the floor up
                    np.maximum(t, floor, out=t)
                if ar != 0.0 or not floor > 0.0:  # else t + 0.0 is t
                    t += ar
                return t.cumsum()  # np.cumsum: the same sequential additions
            return np.cumsum(self.decode_steps_s(num_decode, decode_ctx_sum, num_steps))
        hi = ys[j + 1] if j < ny else math.inf
        p, q = cells[j]
        if (q >= 0.0 and (decode_ctx_sum + (num_steps - 1) * num_decode) / num_decode < hi
                and p + q * y0 >= floor):  # one cell, no floor (t grows with y when q >= 0)
            ts = [p + q * ((decode_ctx_sum + k * num_decode) / num_decode)
                  for k in range(num_steps)]
            if ar != 0.0 or not floor > 0.0:
                ts = [t + ar for t in ts]
            return list(accumulate(ts))  # t + 0.0 is t: every t >= floor > 0
        out = []
        acc = 0.0
        for k in range(num_steps):
            y = (decode_ctx_sum + k * num_decode) / num_decode
            if y >= hi:  # the next cell (y only grows)
                j = bisect_right(ys, y) - 1
                j = ny if j > ny else j
                hi = ys[j + 1] if j < ny else math.inf
                p, q = cells[j]
            t = p + q * y
            acc += (t if t > floor else floor) + ar
            out.append(acc)
        return out

    def adjusted_points(self) -> list[tuple[str, float, float, float, float]]:
        """(table, x, y, measured_s, model_s) for measured points the monotone envelope
        lowered; every other point is reproduced exactly."""
        out = []
        for name, pts, grid in (
            ("prefill", self.prefill_points, self.prefill_grid),
            ("decode", self.decode_points, self.decode_grid),
        ):
            for x, y, s in pts:
                v = grid(x, y)
                if abs(v - s) > 1e-12 * s:
                    out.append((name, x, y, s, v))
        return out


def _check_device(profile: dict, gpu_name: str) -> None:
    device = cal.device_name(profile)
    if device and gpu_name not in device.lower():
        raise ConfigError(
            "gpu",
            f"profiled tables were measured on {device!r}, not {gpu_name!r}; "
            "use cost=roofline for other GPUs or pass a calibration_path measured there",
        )


def _first(row: dict, keys: tuple[str, ...]) -> float:
    """The row's value under the first of `keys` it has."""
    return next(row[k] for k in keys if k in row)


def _prefill_points(entry: dict, graph: dict | None, use_mean: bool = False) -> list[Point]:
    key = ("mean_s", "s") if use_mean else ("s",)
    eager = [(p["n_new"], p["n_cached"], _first(p, key)) for p in entry["prefill"]]
    if not graph or not graph.get("prefill_graph"):
        return eager
    graphed = [(p["n_new"], p["n_cached"], p["s"]) for p in graph["prefill_graph"]]
    max_n = max(p[0] for p in graphed)
    ctxs = {p[1] for p in graphed}
    return graphed + [p for p in eager if p[0] > max_n and p[1] in ctxs]


FAR_X, FAR_Y = 1e6, 1e7
"""Synthetic far grid lines (tokens or batch, context): beyond every realistic iteration."""


def _envelope_grid(points: list[Point]) -> tuple[BilinearGrid, float]:
    """The monotone, extended grid of a table and the smallest measured (envelope) value."""
    xs, ys, vals = table_to_grid(points)
    env = lower_monotone_envelope(fill_missing(xs, vals))
    return extend_monotone(xs, ys, env, lo=(1.0, 0.0), hi=(FAR_X, FAR_Y)), float(env.min())
