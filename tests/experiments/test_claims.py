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
