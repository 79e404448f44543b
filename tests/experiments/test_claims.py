"""Claims checks fail when their claim is false: the claim machinery, and each figure's
checks fed a hand-made results table where one claim is broken."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from experiments.common.claims import Claim, ClaimFailed, assert_claims, bound, claims_table
from experiments.preble.extras import ABLATION_SIDE, ABLATION_STEPS, ablation_checks


def _failing(table: pd.DataFrame) -> set[str]:
    return set(table.loc[table["holds"].apply(lambda h: h is False), "claim"])


def test_claim_holds_and_bounds() -> None:
    assert Claim("a", 2.0, ">=", 2.0).holds is True
    assert Claim("a", 1.99, ">=", 2.0).holds is False
    assert Claim("a", math.nan, "<=", 1.0).holds is False  # a missing value never holds
    assert Claim("a", 5.0, ">=", None).holds is None
    assert bound(2.0, None, quick=True) is None and bound(2.0, 1.5, quick=False) == 2.0
    with pytest.raises(ValueError, match="op must be"):
        Claim("a", 1.0, "=>", 1.0)


def test_assert_claims_raises_on_a_false_claim_of_ours_only() -> None:
    ok = claims_table([Claim("fine", 3.0, ">=", 2.0), Claim("paper says", 0.5, ">", 1.0, kind="paper"),
                       Claim("quick-unchecked", 0.0, ">=", None)])
    assert assert_claims(ok) is ok
    bad = claims_table([Claim("fine", 3.0, ">=", 2.0), Claim("broken", 1.0, ">=", 2.0)])
    with pytest.raises(ClaimFailed, match="broken: 1 not >= 2"):
        assert_claims(bad)


# Fig. 5 bars (mean, p99) shaped like a full run: every claim of ours holds.
ABLATION_OK = {
    "SGLang RR": (32.0, 83.0), "+chunked prefill": (19.6, 83.0), "+E2 (no re-adjust)": (8.0, 51.0),
    "+rebalance/autoscale": (8.0, 43.0), "+prefill/decode": (9.7, 88.0),
    "+priority queue (all)": (12.4, 68.0), "E2 alone (unchunked)": (18.2, 45.0),
}


def test_ablation_labels_match_the_checks_table() -> None:
    assert set(ABLATION_OK) == set(ABLATION_STEPS) | set(ABLATION_SIDE.values())


def test_ablation_checks_hold_on_a_table_where_they_are_true() -> None:
    df = pd.DataFrame([{"step": s, "latency_s_mean": m, "latency_s_p99": p}
                       for s, (m, p) in ABLATION_OK.items()])
    table = ablation_checks(df)
    assert_claims(table)
    assert table.loc[table.kind == "ours", "holds"].all()


BROKEN = [  # (bar -> (mean, p99), the claim that must fail)
    ({"+chunked prefill": (31.0, 83.0)}, "chunked prefill alone lowers"),
    ({"+E2 (no re-adjust)": (15.0, 51.0)}, "E2 lowers the mean over chunked"),
    ({"E2 alone (unchunked)": (30.0, 45.0)}, "E2 helps without chunking"),
    ({"+chunked prefill": (10.0, 83.0), "SGLang RR": (40.0, 83.0)}, "E2 is the chain's largest"),
    ({"+rebalance/autoscale": (8.0, 60.0)}, "rebalancing/autoscaling lowers p99"),
    ({"+prefill/decode": (9.7, 44.0)}, "prefill/decode balancing raises p99"),
    ({"+priority queue (all)": (9.0, 68.0)}, "the priority queue raises the mean"),
    ({"+priority queue (all)": (12.4, 90.0)}, "the priority queue lowers p99"),
]


@pytest.mark.parametrize(("changes", "claim"), BROKEN, ids=[c for _, c in BROKEN])
def test_each_ablation_claim_fails_when_false(changes: dict, claim: str) -> None:
    bars = dict(ABLATION_OK, **changes)
    df = pd.DataFrame([{"step": s, "latency_s_mean": m, "latency_s_p99": p} for s, (m, p) in bars.items()])
    table = ablation_checks(df)
    assert any(c.startswith(claim) for c in _failing(table)), _failing(table)
    with pytest.raises(ClaimFailed):
        assert_claims(table)


# Fig. 3: a ratio table and curve errors shaped like a full run, every claim of ours true.
def _fig3_table(**peaks: float) -> pd.DataFrame:
    base = {"toolbench": 6.0, "embodied": 9.0, "programming": 1.2, "videoqa": 3.0, "loogle": 2.5}
    base.update(peaks)
    rows = []
    for setup in ("mistral_a6000x2", "mistral_a6000x4"):
        for wl, peak in base.items():
            for rps, r in ((1.0, 1.0), (2.0, (1 + peak) / 2), (3.0, peak)):
                rows.append({"setup": setup, "workload": wl, "rps": rps, "ratio_mean": r,
                             "ratio_p99": r, "paper_ratio_mean": 2.0, "paper_ratio_p99": 2.0})
    return pd.DataFrame(rows)


def _fig3_errors(rr: float = 1.0, preble: float = 1.5) -> pd.DataFrame:
    rows = [{"setup": "mistral_a6000x2", "workload": wl, "system": system, "metric": "mean",
             "num_points": 3, "median_ratio": 1.0, "median_abs_log2": err,
             "worst_abs_log2": err, "worst_rps": 1.0}
            for wl in ("toolbench", "programming") for system, err in (("sglang_rr", rr), ("preble", preble))]
    return pd.DataFrame(rows)


def test_fig3_checks_hold_on_a_table_where_they_are_true() -> None:
    from experiments.preble.figures import fig3_checks

    table = fig3_checks(_fig3_table(), _fig3_errors())
    assert table.loc[table.kind == "ours", "holds"].all()


def _with_slow_point(ratio: float, column: str) -> pd.DataFrame:
    t = _fig3_table()
    t.loc[0, column] = ratio
    return t


FIG3_BROKEN = [
    (lambda: (_with_slow_point(0.6, "ratio_mean"), _fig3_errors()), "Preble at most 15% slower"),
    (lambda: (_with_slow_point(0.6, "ratio_p99"), _fig3_errors()), "Preble at most 25% slower"),
    (lambda: (_fig3_table(toolbench=1.1, embodied=1.2, videoqa=1.3, loogle=1.25, programming=1.05),
              _fig3_errors()), "peak mean gain per panel"),
    (lambda: (_fig3_table(loogle=1.1), _fig3_errors()), "programming gains least"),
    (lambda: (_fig3_table(), _fig3_errors(rr=1.7)), "round-robin's curve within"),
    (lambda: (_fig3_table(), _fig3_errors(preble=2.2)), "Preble's curve within"),
]


@pytest.mark.parametrize(("make", "claim"), FIG3_BROKEN, ids=[c for _, c in FIG3_BROKEN])
def test_each_fig3_claim_fails_when_false(make, claim: str) -> None:
    from experiments.preble.figures import fig3_checks

    table = fig3_checks(*make())
    assert any(c.startswith(claim) for c in _failing(table)), _failing(table)
    with pytest.raises(ClaimFailed):
        assert_claims(table)


def test_fig3_claims_reject_the_reviews_synthetic_table() -> None:
    # the review's case: one 62x panel and Preble 40% slower than round-robin at one rate
    from experiments.preble.figures import fig3_checks

    t = _fig3_table(embodied=62.0)
    t.loc[t.workload == "toolbench", "ratio_mean"] = t.loc[t.workload == "toolbench", "ratio_mean"].clip(upper=1) * 0.6
    with pytest.raises(ClaimFailed, match="at most 15% slower"):
        assert_claims(fig3_checks(t, _fig3_errors()))


def _fig4(**values: tuple[float, float]) -> pd.DataFrame:
    """A `fig4_table`-shaped run from (round-robin, Preble) values per metric."""
    from experiments.preble import extras

    base = {"latency_s_mean": (11.0, 5.0), "latency_s_p99": (60.0, 30.0),
            "tpot_s_mean": (0.5, 0.08), "ttft_s_mean": (1.0, 2.0)}
    base.update(values)
    rows = [{"system": s, **{m: v[i] for m, v in base.items()}}
            for i, s in enumerate(("sglang_rr", "preble"))]
    return extras.fig4_table(pd.DataFrame(rows))


FIG4_BROKEN = [
    ({"latency_s_mean": (11.0, 9.0)}, "Preble's mean latency gain"),
    ({"latency_s_p99": (60.0, 50.0)}, "Preble's p99 latency gain"),
    ({"tpot_s_mean": (0.5, 0.4)}, "Preble's TPOT gain"),
    ({"ttft_s_mean": (1.0, 0.5)}, "Preble's TTFT worse"),
    ({"latency_s_mean": (30.0, 5.0)}, "round-robin's mean latency within"),
]


def test_fig4_checks_hold_on_a_table_where_they_are_true() -> None:
    from experiments.preble.extras import fig4_checks

    assert fig4_checks(_fig4()).query("kind == 'ours'")["holds"].all()


@pytest.mark.parametrize(("values", "claim"), FIG4_BROKEN, ids=[c for _, c in FIG4_BROKEN])
def test_each_fig4_claim_fails_when_false(values: dict, claim: str) -> None:
    from experiments.preble.extras import fig4_checks

    table = fig4_checks(_fig4(**values))
    assert any(c.startswith(claim) for c in _failing(table)), _failing(table)


def _mooncake(**changes: tuple[float, float]) -> pd.DataFrame:
    rows = {"round_robin": (6.1, 0.08), "cache_aware": (4.9, 0.25), "preble_e2": (8.4, 0.23)}
    rows.update(changes)
    return pd.DataFrame([{"system": s, "latency_s_mean": lat, "cache_hit_ratio": hit}
                         for s, (lat, hit) in rows.items()])


MOONCAKE_BROKEN = [
    ({"preble_e2": (8.4, 0.12)}, "E2's hit ratio"),
    ({"preble_e2": (5.5, 0.23)}, "E2's mean latency above"),
    ({"cache_aware": (7.0, 0.25)}, "cache-aware's mean latency"),
]


def test_mooncake_checks_hold_and_each_fails_when_false() -> None:
    from experiments.preble.extras import mooncake_checks

    assert_claims(mooncake_checks(_mooncake()))
    for changes, claim in MOONCAKE_BROKEN:
        table = mooncake_checks(_mooncake(**changes))
        assert any(c.startswith(claim) for c in _failing(table)), (claim, _failing(table))


def test_real_backends_hit_check_fails_when_preble_hits_less() -> None:
    from experiments.preble.real import hit_ratio_table

    rows = [{"workload": wl, "system": s, "cache_hit_ratio": h, "latency_s_mean": 1.0,
             "num_failed": 0}
            for wl, (pre, rr) in {"toolbench": (0.7, 0.5), "videoqa": (0.4, 0.6)}.items()
            for s, h in (("preble", pre), ("sglang_rr", rr))]
    table = hit_ratio_table(pd.DataFrame(rows)).set_index("workload")
    assert table.loc["toolbench", "preble_hits_more"]
    assert not table.loc["videoqa", "preble_hits_more"]  # the notebook's assert would fail
