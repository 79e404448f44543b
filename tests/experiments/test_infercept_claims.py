"""InferCept's claims checks fail when their claim is false: each fed a hand-made table."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.common.claims import ClaimFailed, assert_claims
from experiments.infercept import checks
from experiments.infercept.figures import SETUPS, paper_rate_ratios


def _failing(table: pd.DataFrame) -> set[str]:
    return set(table.loc[table["holds"].apply(lambda h: h is False), "claim"])


def _fig2(vllm_knee: float = 1.0, gain: float = 2.0, waste: float = 0.01) -> pd.DataFrame:
    """Curves that cross 100 ms/token at `vllm_knee` x the paper's vLLM knee (vLLM) and
    `gain` x that (InferCept), on every setup."""
    knees = paper_rate_ratios([100.0]).set_index("setup")["vLLM"]
    rows = []
    for setup in SETUPS:
        knee = float(knees[setup]) * vllm_knee
        for rps in (knee * f for f in (0.5, 0.9, 1.1, 1.5 * gain)):
            for series, at in (("vLLM", knee), ("InferCept", knee * gain)):
                rows.append({"setup": setup, "series": series, "rps": round(rps, 4),
                             "norm_latency_ms_mean": 100.0 * (rps / at) ** 4, "saturated": False,
                             "waste_frac": waste if series == "InferCept" else 0.2})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("kwargs", "claim"), [
    ({}, None),
    ({"gain": 1.05}, "InferCept sustains a higher rate"),
    ({"vllm_knee": 2.5}, "vLLM's knee within 2x"),
    ({"waste": 0.05}, "InferCept wastes under 2%"),
])
def test_fig2_checks(kwargs: dict, claim: str | None) -> None:
    table = checks.fig2_checks(_fig2(**kwargs))
    if claim is None:
        assert_claims(table)
        return
    assert any(c.startswith(claim) for c in _failing(table)), _failing(table)
    with pytest.raises(ClaimFailed):
        assert_claims(table)


def _motivation(infercept_waste: float = 0.01, vllm_recompute: float = 0.5) -> pd.DataFrame:
    rows = []
    for rps in (1.0, 1.5):
        for series, waste, rec in (("vLLM", 0.1, vllm_recompute), ("Swap", 0.05, 0.0),
                                   ("Preserve", 0.3, 0.0), ("InferCept", infercept_waste, 0.1)):
            rows.append({"series": series, "rps": rps, "waste_frac": waste,
                         "recompute_time_frac": rec, "swap_stall_time_frac": 0.0})
    return pd.DataFrame(rows)


def test_motivation_checks() -> None:
    assert_claims(checks.motivation_checks(_motivation()))
    assert any(c.startswith("InferCept wastes the least") for c in
               _failing(checks.motivation_checks(_motivation(infercept_waste=0.08))))
    assert any(c.startswith("vLLM spends at least 30%") for c in
               _failing(checks.motivation_checks(_motivation(vllm_recompute=0.2))))


def _breakdown(**lat: float) -> pd.DataFrame:
    base = {"vLLM": 45.0, "ImprovedDiscard": 45.0, "+MinWasteDiscard": 800.0,
            "+MinWasteSwap": 90.0, "+HeuristicPreserve": 18.5, "InferCept": 19.0}
    base.update({k.replace("_", "+", 1) if k.startswith("_") else k: v for k, v in lat.items()})
    return pd.DataFrame([{"rps": 1.5, "series": s, "norm_latency_ms_mean": v} for s, v in base.items()])


def test_breakdown_checks() -> None:
    assert_claims(checks.breakdown_checks(_breakdown()))
    for changes, claim in (({"_MinWasteDiscard": 40.0}, "+MinWasteDiscard is slower"),
                           ({"_HeuristicPreserve": 25.0}, "the 4-s heuristic"),
                           ({"InferCept": 50.0, "_HeuristicPreserve": 50.0}, "InferCept beats vLLM")):
        assert any(c.startswith(claim) for c in _failing(checks.breakdown_checks(_breakdown(**changes))))


def test_single_and_estimator_checks() -> None:
    single = pd.DataFrame([{"augmentation": aug, "rps": r, "series": s, "norm_latency_ms_mean": v}
                           for aug in ("qa", "chatbot") for r in (1.0, 2.0)
                           for s, v in (("vLLM", 20.0 * r), ("InferCept", 12.0))])
    assert_claims(checks.single_checks(single))
    worse = single.assign(norm_latency_ms_mean=single.norm_latency_ms_mean.where(
        ~((single.series == "InferCept") & (single.rps == 1.0)), 25.0))
    assert any(c.startswith("InferCept beats vLLM") for c in _failing(checks.single_checks(worse)))
    est = pd.DataFrame([{"rps": r, "series": s, "norm_latency_ms_mean": v}
                        for r in (1.0, 2.0) for s, v in (("InferCept (oracle)", 13.0),
                                                         ("InferCept (estimate)", 13.2))])
    assert_claims(checks.estimator_checks(est))
    est.loc[est.series == "InferCept (estimate)", "norm_latency_ms_mean"] = 16.0
    assert any(c.startswith("the estimator reaches") for c in _failing(checks.estimator_checks(est)))
