"""The Nitsum app: every policy runs from its config and writes what the issue names; bad
settings fail naming the option; metrics against a hand-made case."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.errors import ConfigCompositionException

from experiments.common.sweep import compose_config
from experiments.nitsum.runner import run_nitsum
from toolkit.core import ConfigError
from toolkit.metrics.slo import goodput_summary, window_goodput

MODULE = "experiments.nitsum.conf"
POLICIES = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "experiments" /
                                   "nitsum" / "conf" / "policy").glob("*.yaml"))
QUICK = ["workload.duration_s=30", "workload.rps=20", "run.drain_s=30", "profile.probe_s=10"]


@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_runs_and_writes_its_files(policy, tmp_path):
    cfg = compose_config(MODULE, [f"policy={policy}", *QUICK])
    s = run_nitsum(cfg, tmp_path)
    df = pd.read_parquet(tmp_path / "records.parquet")
    assert {"tier", "slo_met", "ttft_s", "tpot_s"} <= set(df.columns)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    for key in ("goodput_rps", "goodput_rps_per_gpu", "num_reconfigurations", "tiers"):
        assert key in on_disk
    assert set(on_disk["tiers"]) == {"interactive", "relaxed", "background"}
    assert {"goodput_rps", "slo_attainment"} <= set(on_disk["tiers"]["interactive"])
    assert s["goodput_rps"] == pytest.approx(df["slo_met"].sum() / 30)


def test_same_config_same_records(tmp_path):
    cfg = compose_config(MODULE, ["policy=nitsum", "workload=servegen", *QUICK])
    run_nitsum(cfg, tmp_path / "a")
    run_nitsum(cfg, tmp_path / "b")
    a = pd.read_parquet(tmp_path / "a" / "records.parquet")
    b = pd.read_parquet(tmp_path / "b" / "records.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_bad_settings_name_the_option(tmp_path):
    with pytest.raises(ConfigCompositionException):
        compose_config(MODULE, ["cluster.no_such_option=1"])
    with pytest.raises(ConfigError, match="tiers.fast"):
        run_nitsum(compose_config(MODULE, [*QUICK, "tiers=two", "+tiers.fast.speed=1",
                                           "+tiers.fast.share=0"]), tmp_path)
    with pytest.raises(ConfigError, match="backend"):
        run_nitsum(compose_config(MODULE, [*QUICK, "backend.name=http"]), tmp_path)


def test_goodput_by_hand():
    df = pd.DataFrame({"tier": ["a", "a", "b", "b"], "arrival_s": [0.0, 1.0, 2.0, 12.0],
                       "finish_s": [1.0, np.nan, 3.0, 13.0], "slo_met": [True, False, False, True],
                       "ttft_s": [0.1, np.nan, 0.2, 0.3], "tpot_s": [0.01, np.nan, 0.02, 0.03]})
    s = goodput_summary(df, duration_s=10.0, num_gpus=2)
    assert s["goodput_rps"] == pytest.approx(0.2) and s["goodput_rps_per_gpu"] == pytest.approx(0.1)
    assert s["tiers"]["a"]["slo_attainment"] == 0.5 and s["tiers"]["a"]["throughput_rps"] == 0.1
    w = window_goodput(df, 10.0)
    assert w[(w.window == 1) & (w.tier == "b")]["goodput_rps"].item() == pytest.approx(0.1)
