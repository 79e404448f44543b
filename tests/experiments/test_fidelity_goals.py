"""The fidelity notebook's goal table: worst mean-latency error per setup against its goal."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from experiments.preble.fidelity import goal_table


def _errors(inprocess: list[float], http: list[float]) -> pd.DataFrame:
    rows = [{"setup": s, "rps": r, "metric": m, "error_pct": e if m == "latency_s_mean" else 99.0}
            for s, errs in (("inprocess_1", inprocess), ("http_2", http))
            for r, e in zip((6, 12, 18), errs) for m in ("latency_s_mean", "ttft_s_mean")]
    return pd.DataFrame(rows)


def test_goals_met_when_every_rate_is_within() -> None:
    table = goal_table(_errors([-9.9, 5.0, 0.0], [-14.0, 14.9, 3.0]))
    assert table.met.all()
    assert table.loc["http_2", "worst_pct"] == 14.9  # other metrics do not count


def test_one_rate_outside_its_goal_fails_the_setup() -> None:
    table = goal_table(_errors([-9.0, -10.5, 0.0], [-14.0, 1.0, -16.0]))
    assert not table.loc["inprocess_1", "met"] and table.loc["inprocess_1", "worst_pct"] == 10.5
    assert not table.loc["http_2", "met"] and table.loc["http_2", "worst_pct"] == 16.0


def test_repeated_engine_runs_are_averaged_and_their_spread_reported() -> None:
    """Engine latencies 50, 60 and 70 ms at one rate (mean 60, range 20 ms: 33.3%), the
    simulator 57 ms: -5%. One engine run at the other rate: no spread."""
    from experiments.common.profile import sim_errors

    rows = [{"setup": "inprocess_1", "rps": 6, "backend": "engine", "latency_s_mean": v}
            for v in (0.05, 0.06, 0.07)]
    rows += [{"setup": "inprocess_1", "rps": 6, "backend": "sim", "latency_s_mean": 0.057},
             {"setup": "inprocess_1", "rps": 12, "backend": "engine", "latency_s_mean": 0.05},
             {"setup": "inprocess_1", "rps": 12, "backend": "sim", "latency_s_mean": 0.05}]
    e = sim_errors(pd.DataFrame(rows), ["setup", "rps"], ["latency_s_mean"]).set_index("rps")
    assert e.loc[6, "engine"] == pytest.approx(0.06) and e.loc[6, "engine_runs"] == 3
    assert e.loc[6, "error_pct"] == pytest.approx(-5.0)
    assert e.loc[6, "engine_spread_pct"] == pytest.approx(100 / 3)
    assert math.isnan(e.loc[12, "engine_spread_pct"]) and e.loc[12, "error_pct"] == 0.0
    table = goal_table(e.reset_index())
    assert table.loc["inprocess_1", "engine_spread_pct"] == pytest.approx(100 / 3)
    assert table.loc["inprocess_1", "met"]  # 5% against the 10% goal
    with pytest.raises(ValueError, match="one simulator row"):
        sim_errors(pd.DataFrame(rows[:3]), ["setup", "rps"], ["latency_s_mean"])
