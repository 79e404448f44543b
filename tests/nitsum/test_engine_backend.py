"""The Nitsum app on the engine: tiered traffic on gloo TP ranks, a live TP switch mid-run
loses no request, records carry tier and slo_met."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from experiments.common.sweep import compose_config
from experiments.nitsum.runner import run_nitsum
from toolkit.core import ConfigError

MODULE = "experiments.nitsum.conf"
SMALL = ["backend=engine", "policy=static_tp", "backend.num_requests=24", "backend.rps=12",
         "backend.max_output_len=12", "backend.max_prompt_len=96", "workload.duration_s=60"]


def test_live_switch_under_tiered_load_loses_nothing(tmp_path):
    cfg = compose_config(MODULE, [*SMALL, "backend.switch_at=[[0.5,2],[1.2,1]]"])
    s = run_nitsum(cfg, tmp_path)
    df = pd.read_parquet(tmp_path / "records.parquet")
    assert len(df) == 24 and np.isfinite(df["finish_s"]).all() and s["num_unfinished"] == 0
    assert [(x["from_tp"], x["to_tp"]) for x in s["switches"]] == [(1, 2), (2, 1)]
    assert all(x["bytes_moved"] > 0 for x in s["switches"])  # live KV was re-split
    assert {"tier", "slo_met", "ttft_s", "tpot_s"} <= set(df.columns)
    assert (df["first_token_s"] >= df["arrival_s"]).all()
    assert json.loads((tmp_path / "summary.json").read_text())["num_reconfigurations"] == 2


def test_engine_backend_rejects_what_it_cannot_run(tmp_path):
    with pytest.raises(ConfigError, match="policy"):
        run_nitsum(compose_config(MODULE, [*SMALL[:1], "policy=nitsum", *SMALL[2:]]), tmp_path)
    with pytest.raises(ConfigError, match="switch_at"):
        run_nitsum(compose_config(MODULE, [*SMALL, "backend.switch_at=[3]"]), tmp_path)
