"""RooflineCostModel against the H200 tables and Splitwise's published A100/H100 profile.

Measured with the defaults (ratio = roofline / measured; checked bands in brackets):
- H200 tables: decode 0.66-1.00 at every point [1/1.6, 1.05]; prefill of >= 2048
  tokens 0.57-0.77 [1/1.8, 1];
  short eager prefills at tp > 1 down to 0.11 (the tables are launch-bound there).
- Splitwise Llama2-70B (TP 2/4/8, medians of repeats): prompt 0.22-0.89, token 0.24-0.82
  [1/5, 1];
  the roofline is optimistic everywhere (2023-era serving stack). Two rows (batch 64 x 512,
  TP 2) measure faster than a single 8192-token prompt on the same GPUs and are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from toolkit.cost.base import BatchShape
from toolkit.cost.profiled import ProfiledCostModel
from toolkit.cost.roofline import RooflineCostModel

PAIRS = [
    ("llama3-8b", 1),
    ("llama3-8b", 2),
    ("llama3-8b", 4),
    ("llama3-70b", 2),
    ("llama3-70b", 4),
    ("llama3-70b", 8),
]


@pytest.mark.parametrize(("name", "tp"), PAIRS)
def test_against_h200_tables(name: str, tp: int) -> None:
    table, roof = ProfiledCostModel(name, tp), RooflineCostModel(name, "h200", tp)
    for b, c, _ in table.decode_points:
        ratio = roof.decode_s(b, c) / table.decode_s(b, c)
        assert 1 / 1.6 <= ratio <= 1.05  # within 1.6x at every measured decode shape
    for n, c, _ in table.prefill_points:
        if n >= 2048:  # compute-bound prefill
            ratio = roof.prefill_s(n, c) / table.prefill_s(n, c)
            assert 1 / 1.8 <= ratio <= 1.0


def test_against_splitwise_llama2_70b(calibration_dir: Path) -> None:
    import pandas as pd

    df = pd.read_csv(calibration_dir / "splitwise_perf_model.csv")
    df = df[(df.model == "llama2-70b") & df.hardware.isin(["a100-80gb", "h100-80gb"])]
    keys = ["hardware", "tensor_parallel", "prompt_size", "batch_size", "token_size"]
    df = df.groupby(keys, as_index=False)[["prompt_time", "token_time"]].median()
    checked = 0
    for row in df.itertuples():
        roof = RooflineCostModel("llama2-70b", row.hardware.split("-")[0], int(row.tensor_parallel))
        p, b = int(row.prompt_size), int(row.batch_size)
        token = roof.decode_s(b, p + int(row.token_size) // 2) * 1e3 / row.token_time
        assert 1 / 5 <= token <= 1.0
        if row.tensor_parallel == 2 and b == 64:
            continue  # anomalous rows, see module docstring
        prompt = roof.iteration_s(BatchShape((p,) * b, (0,) * b)) * 1e3 / row.prompt_time
        assert 1 / 5 <= prompt <= 1.0
        checked += 1
    assert checked > 100


def test_regimes_and_vectorised_decode() -> None:
    roof = RooflineCostModel("llama3-8b", "h100")
    # B=1 decode is memory-bound: about the weights over HBM bandwidth.
    # layers + LM head (the input embedding is a row lookup): 15.01 GB
    weights_s = 15.01e9 / (3.35e12 * 0.872)
    assert roof.decode_s(1, 100) == pytest.approx(weights_s + roof.overhead_s, rel=0.02)
    # a long prefill is compute-bound: grows ~linearly in tokens
    assert roof.prefill_s(16384) / roof.prefill_s(8192) > 1.9
    loop = [
        roof.iteration_s(BatchShape(num_decode=48, decode_ctx_sum=48 * 900 + 48 * j))
        for j in range(64)
    ]
    np.testing.assert_allclose(roof.decode_steps_s(48, 48 * 900, 64), loop, rtol=1e-12)
    assert roof.iteration_s(BatchShape()) == 0.0


def test_other_gpus_order_by_bandwidth() -> None:
    times = {
        g: RooflineCostModel("llama3-8b", g).decode_s(8, 1024)
        for g in ("h200", "h100", "a100", "l4")
    }
    assert times["h200"] < times["h100"] < times["a100"] < times["l4"]
