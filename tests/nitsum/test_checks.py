"""Every Nitsum claim on a case where it holds and on one where it does not."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.common.claims import ClaimFailed, assert_claims
from experiments.nitsum import checks, figures


def _holds(table: pd.DataFrame, text: str) -> bool | None:
    return table.set_index("claim").loc[text, "holds"]


def test_tp_checks_hold_on_the_cost_model_and_fail_when_tp_helps_gpu_time():
    tp = figures.tp_cost_table(batches=(1, 8, 128))
    assert_claims(checks.tp_checks(tp))
    bad = tp.copy()
    bad.loc[(bad["tp"] == 8), "gpu_ms_per_token"] = 0.0  # TP 8 "cheapest per token"
    bad.loc[(bad["tp"] == 8), "ttft_ms"] = 1e6
    with pytest.raises(ClaimFailed, match="GPU-ms per token"):
        assert_claims(checks.tp_checks(bad))
    with pytest.raises(ClaimFailed, match="TTFT"):
        assert_claims(checks.tp_checks(bad))
    flat = tp.copy()
    flat.loc[flat["batch"] <= 8, "step_ms"] = 5.0  # TP no longer shortens small batches
    with pytest.raises(ClaimFailed, match="decode step at batch <= 8"):
        assert_claims(checks.tp_checks(flat))
    no_gain = tp.copy()
    no_gain.loc[no_gain["small_batch_gain"] == 3.0, "step_ms"] = \
        no_gain.loc[no_gain["small_batch_gain"] == 1.0, "step_ms"].to_numpy()
    with pytest.raises(ClaimFailed, match="small-batch gain"):
        assert_claims(checks.tp_checks(no_gain))


def test_migration_checks_fail_when_the_gather_is_slow():
    mig = figures.migration_table()
    assert_claims(checks.migration_checks(mig))
    assert mig["speedup"].iloc[0] == pytest.approx(56.491 / 0.087, rel=1e-6)  # ~650x
    slow = mig.assign(speedup=5.0)
    with pytest.raises(ClaimFailed, match="gather kernel"):
        assert_claims(checks.migration_checks(slow))


def _abl(naive: float) -> pd.DataFrame:
    steps = ["vanilla", "slo_aware_best_static", "tier_split", "nitsum_scheduler",
             "naive_dynamic_tp", "full_nitsum"]
    return pd.DataFrame({"step": steps, "goodput_rps": [10, 20, 21, 25, naive, 30]})


def test_ablation_naive_switch_claim():
    assert_claims(checks.ablation_checks(_abl(5.0), quick=False))
    with pytest.raises(ClaimFailed, match="naive dynamic TP"):
        assert_claims(checks.ablation_checks(_abl(25.0), quick=False))
    ours = "naive dynamic TP over the Nitsum scheduler at a fixed TP (the step it adds to)"
    assert _holds(checks.ablation_checks(_abl(25.0), quick=True), ours) is None  # not in quick
    between = checks.ablation_checks(_abl(22.0), quick=False)  # above static, below its step
    assert_claims(between)
    assert _holds(between, ours) and not _holds(between, "naive dynamic TP over SLO-aware best static TP")
    t = checks.ablation_checks(_abl(5.0), quick=False)
    assert _holds(t, "each step of the chain at least the one before (share)")


def test_load_checks():
    rows = []
    for rps, ours, other in ((50, 40, 45), (100, 80, 60)):
        rows += [{"policy": "Nitsum", "rps": rps, "goodput_rps": ours, "attain_a": 0.9},
                 {"policy": "static", "rps": rps, "goodput_rps": other, "attain_a": 0.5}]
    df = pd.DataFrame(rows)
    t = checks.load_checks(df)
    assert_claims(t)
    assert _holds(t, "Nitsum goodput over the best baseline's at the top load")
    over = df.assign(goodput_rps=df["goodput_rps"] * 3)
    with pytest.raises(ClaimFailed, match="offered load"):
        assert_claims(checks.load_checks(over))
    falling = df.copy()
    falling.loc[(falling.policy == "Nitsum") & (falling.rps == 100), "goodput_rps"] = 10
    assert not _holds(checks.load_checks(falling),
                      "Nitsum goodput at the top load over its goodput one load lower")


def test_reserve_checks():
    rows = [{"policy": p, "rps": rps, "reserve": r, "goodput_rps": g, "attain_a": a, "attain_b": 0.9}
            for p in ("Nitsum", "static") for rps in (120, 280)
            for r, g, a in ((0.0, 100.0, 0.2), (0.25, 110.0, 0.3))]
    df = pd.DataFrame(rows)
    t = checks.reserve_checks(df, quick=False)
    assert_claims(t)
    assert _holds(t, "Nitsum lowest tier attainment at the top load, reserve 0.25 minus none (points)")
    worse = df.copy()
    worse.loc[(worse.reserve == 0.25) & (worse.rps == 280), ["goodput_rps", "attain_a"]] = (90.0, 0.1)
    with pytest.raises(ClaimFailed, match="reserve 0.25 over none"):
        assert_claims(checks.reserve_checks(worse, quick=False))
    assert not _holds(checks.reserve_checks(worse, quick=False),
                      "Nitsum lowest tier attainment at the top load, reserve 0.25 minus none (points)")
    assert _holds(checks.reserve_checks(worse, quick=True),
                  "Nitsum goodput at the top load, reserve 0.25 over none") is None


def test_starvation_checks():
    rows = [{"rps": rps, "weigh_starvation": w, "goodput_rps": g, "attain_a": a, "attain_b": 0.7}
            for rps in (200, 280) for w, g, a in ((False, 120.0, 0.2), (True, 90.0, 0.3))]
    df = pd.DataFrame(rows)
    t = checks.starvation_checks(df)
    assert list(t["kind"]) == ["paper"] * 2
    assert list(t["value"]) == pytest.approx([10.0, 0.75])  # 30% - 20%; 90 / 120
    assert list(t["holds"]) == [True, False]
    flipped = df.assign(weigh_starvation=~df["weigh_starvation"])
    assert list(checks.starvation_checks(flipped)["holds"]) == [False, True]
    assert_claims(t)  # reported, never asserted


def test_engine_load_checks():
    df = pd.DataFrame([{"policy": p, "rps": r, "goodput_rps": g * r}
                       for p, g in (("Nitsum", 16.0), ("split", 7.0), ("static", 10.0))
                       for r in (12, 24)])
    t = checks.engine_load_checks(df)
    assert list(t["kind"]) == ["paper"] * 2 and t["holds"].all()
    worse = df.assign(goodput_rps=df["goodput_rps"].where(df["policy"] != "Nitsum", 9.0))
    assert not checks.engine_load_checks(worse)["holds"].any()
    assert_claims(checks.engine_load_checks(worse))  # reported, never asserted


def test_oracle_and_planner_checks_report():
    w = pd.DataFrame({"tp1": [1.0, 3.0], "tp2": [2.0, 1.0], "best_tp": [2, 1]})
    t = checks.oracle_checks({"goodput_rps": 5.0, "best_static_goodput_rps": 4.0}, w)
    assert _holds(t, "oracle over best static TP, gain >= 23%")  # 5 / 4 - 1 = 25%
    assert _holds(t, "oracle over best static TP, gain <= 29%")
    t = checks.oracle_checks({"goodput_rps": 5.0, "best_static_goodput_rps": 5.0}, w)
    assert not _holds(t, "oracle over best static TP, gain >= 23%")
    p = checks.planner_checks(pd.DataFrame({"num_gpus": [8, 128], "median_ms": [0.1, 6.0]}))
    assert not _holds(p, "median decision time at 128 GPUs (ms) under the 5 ms goal")


def test_oracle_map_checks():
    df = pd.DataFrame({"slo_scale": [1.0, 1.0, 0.5, 0.5], "gain": [0.01, 0.02, 0.05, 0.10]})
    t = assert_claims(checks.oracle_map_checks(df, quick=False))
    assert _holds(t, "largest oracle gain with tighter SLOs minus with ours (points)")
    assert t["value"].iloc[0] == pytest.approx(8.0)  # 10% - 2%
    assert not _holds(t, "largest oracle gain over the settings >= 23%")
    assert _holds(checks.oracle_map_checks(df.assign(gain=[0.0, 0.3, 0.0, 0.1]), False),
                  "largest oracle gain over the settings >= 23%")
    with pytest.raises(ClaimFailed, match="tighter SLOs"):
        assert_claims(checks.oracle_map_checks(df.assign(gain=[0.05, 0.02, 0.01, 0.03]), False))
    quick = checks.oracle_map_checks(df.assign(gain=[0.05, 0.02, 0.01, 0.03]), quick=True)
    assert _holds(assert_claims(quick), "largest oracle gain with tighter SLOs minus with ours "
                  "(points)") is None  # not checked on quick-mode runs


def test_engine_tp_checks():
    steps = pd.DataFrame({"tp": [1, 2, 1, 2], "batch": [1, 1, 16, 16],
                          "prefill_ms": [7.0, 10.0, 80.0, 50.0], "step_ms": [2.0, 9.0, 4.0, 12.0],
                          "rank_ms_per_token": [2.0, 18.0, 0.25, 1.5]})
    t = checks.engine_tp_checks(steps)
    assert_claims(t)
    assert not _holds(t, "engine: higher TP lowers the smallest batch's decode step (share)")
    cheap = steps.assign(rank_ms_per_token=[2.0, 1.0, 0.25, 0.1])
    with pytest.raises(ClaimFailed, match="rank-ms per token"):
        assert_claims(checks.engine_tp_checks(cheap))
