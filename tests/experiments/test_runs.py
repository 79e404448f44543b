"""Runs end to end: outputs, bit-for-bit determinism, records kept on failure, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from experiments.common.runner import run_config
from experiments.common.sweep import compose_config

MODULE = "experiments.preble.conf"
ROOT = Path(__file__).resolve().parents[2]
SMALL = ["workload.num_requests=150", "workload.num_prefixes=10", "workload.rps=20"]
REQUIRED = ["request_id", "arrival_s", "first_token_s", "finish_s", "num_prompt_tokens",
            "num_cached_tokens", "num_output_tokens", "engine_id"]


@pytest.mark.parametrize("system", ["preble", "sglang_rr"])
def test_same_config_same_records_bit_for_bit(tmp_path, system):
    cfg = compose_config(MODULE, [f"system={system}", *SMALL])
    run_config(cfg, tmp_path / "a")
    run_config(cfg, tmp_path / "b")
    a = pd.read_parquet(tmp_path / "a" / "records.parquet")
    b = pd.read_parquet(tmp_path / "b" / "records.parquet")
    assert a.equals(b)
    assert set(REQUIRED) <= set(a.columns) and a["finish_s"].notna().all()
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    for key in ("latency_s_mean", "latency_s_p99", "ttft_s_p50", "tpot_s_p90",
                "normalized_latency_s_mean", "throughput_rps", "cache_hit_ratio"):
        assert key in summary
    assert (tmp_path / "a" / "config.yaml").exists()


def test_a_run_that_fails_halfway_keeps_its_records(tmp_path, monkeypatch):
    from toolkit.sim import engine as engine_mod

    original = engine_mod.SimEngine._on_admit
    calls = {"n": 0}

    def failing(self, seq, now):
        calls["n"] += 1
        if calls["n"] > 60:
            raise RuntimeError("injected failure")
        original(self, seq, now)

    monkeypatch.setattr(engine_mod.SimEngine, "_on_admit", failing)
    cfg = compose_config(MODULE, SMALL)
    with pytest.raises(RuntimeError, match="injected"):
        run_config(cfg, tmp_path)
    df = pd.read_parquet(tmp_path / "records.parquet")
    assert len(df) == 150 and df["finish_s"].notna().sum() > 0


def test_hydra_app_and_joblib_multirun(tmp_path):
    env = {"TOOLKIT_RESULTS": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "experiments.preble.run", "-m", "system=preble,sglang_rr",
           "hydra/launcher=joblib", *SMALL]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    summaries = sorted(tmp_path.glob("preble/multiruns/*/*/summary.json"))
    assert len(summaries) == 2
    bad = subprocess.run([sys.executable, "-m", "experiments.preble.run", "cluster.no_such=1"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "cluster.no_such" in bad.stderr
