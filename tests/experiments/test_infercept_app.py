"""The InferCept Hydra app: a run writes records, pauses and a summary; every policy and
setup composes; the engine backend replays a pausing trace with the tools played."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.common.sweep import compose_config
from experiments.infercept.figures import SETUPS, paper_points, sustainable_rate
from experiments.infercept.runner import run_infercept
from toolkit.core.record import PAUSE_COLUMNS

MODULE = "experiments.infercept.conf"
POLICIES = ["vllm", "improved_discard", "preserve", "swap", "infercept", "mw_discard",
            "mw_swap", "mw_heuristic"]


@pytest.mark.parametrize("setup", [*SETUPS.values(), "llama8b_h200"])
def test_every_setup_runs(setup, tmp_path):
    cfg = compose_config(MODULE, [f"setup={setup}", "workload.duration_s=40", "workload.rps=1"])
    df, summary = run_infercept(cfg, tmp_path)
    pauses = pd.read_parquet(tmp_path / "pauses.parquet")
    assert list(pauses.columns) == PAUSE_COLUMNS
    assert set(pauses["action"]) <= {"preserve", "discard", "swap"}
    assert len(pauses) == int(pd.read_parquet(tmp_path / "records.parquet")["num_pauses"].sum())
    assert (tmp_path / "summary.json").exists() and summary["num_failed"] == 0
    assert summary["waste_frac"] < 0.05 and summary["norm_latency_ms_mean"] > 0


@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_is_deterministic(policy):
    ov = [f"policy={policy}", "workload.duration_s=60", "workload.rps=1.5"]
    a, _ = run_infercept(compose_config(MODULE, ov))
    b, _ = run_infercept(compose_config(MODULE, ov))
    assert a.equals(b)


def test_estimator_and_timeout_options(tmp_path):
    cfg = compose_config(MODULE, ["run.estimate_duration=true", "run.pause_timeout_s=5",
                                  "workload=chatbot", "workload.duration_s=30"])
    df, summary = run_infercept(cfg, tmp_path)
    assert summary["num_failed"] > 0  # chatbot replies take ~28 s: they time out at 5 s
    assert df.loc[df.failed, "error"].str.contains("pause_timeout_s").all()


def test_paper_points_and_sustainable_rate():
    pts = paper_points()
    assert set(pts.setup) == set(SETUPS)
    df = pd.DataFrame({"setup": "s", "series": "x", "rps": [1.0, 2.0, 3.0],
                       "norm_latency_ms_mean": [10.0, 30.0, 90.0]})
    got = sustainable_rate(df, 60.0)["rps"].iloc[0]
    assert got == pytest.approx(2.5)
    saturated = df.assign(saturated=[False, True, True], norm_latency_ms_mean=[10.0, 20.0, 30.0])
    assert sustainable_rate(saturated, 60.0)["rps"].iloc[0] == pytest.approx(1.0)


def test_unfinished_requests_do_not_flatter_latency(tmp_path):
    cfg = compose_config(MODULE, ["policy=vllm", "workload.rps=4", "workload.duration_s=60",
                                  "run.drain_min_s=0"])
    df, summary = run_infercept(cfg, tmp_path)
    assert summary["unfinished_frac"] > 0.01 and summary["saturated"]
    # the mean is over finished requests only, recomputed here from the records
    done = df[df.finish_s.notna() & ~df.failed]
    hand = ((done.finish_s - done.arrival_s - done.pause_s_total)
            / done.num_output_tokens.clip(lower=1)).mean() * 1000
    assert summary["norm_latency_ms_mean"] == pytest.approx(hand)
    # so a saturated point counts above every threshold, however low its mean looks
    pts = pd.DataFrame([
        {"setup": "s", "series": "p", "rps": 1.0, "norm_latency_ms_mean": 50.0, "saturated": False},
        {"setup": "s", "series": "p", "rps": 2.0, "norm_latency_ms_mean": 10.0, "saturated": True}])
    assert sustainable_rate(pts, 100.0)["rps"].iloc[0] == pytest.approx(1.0)
    assert sustainable_rate(pts.assign(saturated=False), 100.0)["rps"].iloc[0] == 2.0


def test_engine_backend_replays_pauses(tmp_path):
    cfg = compose_config(MODULE, [
        "backend=engine_inprocess", "workload.token_ids=true", "workload.vocab_size=768",
        "workload.max_context_len=256", "workload.augmentations=[math,virtual_env]",
        "workload.duration_s=6", "workload.rps=0.5", "run.window_s=null", "policy=infercept"])
    df, summary = run_infercept(cfg, tmp_path)
    pauses = pd.read_parquet(tmp_path / "pauses.parquet")
    assert not df.failed.any() and df.finish_s.notna().all()
    assert len(pauses) == int(df.num_pauses.sum()) > 0
    assert set(pauses["outcome"]) == {"resumed"}
