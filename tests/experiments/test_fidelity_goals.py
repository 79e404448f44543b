"""The fidelity notebook's goal table: worst mean-latency error per setup against its goal."""

from __future__ import annotations

import pandas as pd

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
