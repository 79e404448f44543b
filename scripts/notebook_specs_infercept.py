"""The cells of every InferCept figure notebook (see build_notebooks.py)."""

from __future__ import annotations

from collections.abc import Callable

PARAMS = '''backend = "sim"
quick = False
overrides = []
results_dir = "results/infercept"
n_jobs = 2'''

SETUP = '''from pathlib import Path
import pandas as pd
from IPython.display import Markdown, display
from experiments.common.claims import assert_claims, paper_verdicts
from experiments.infercept import checks, figures
from toolkit.plots.style import save
out = Path(results_dir) / "figures"
out.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 160)'''


def register(nb: Callable) -> None:
    nb("infercept_table1", [
        ("md", """# InferCept Table 1 — the six augmentations, recomputed from the generated workload

The generator (`toolkit/workloads/infercept.py`) draws each augmentation's pause durations,
calls per request and final context lengths to match the paper's Table 1 (second values read
as standard deviations). Returned tokens per call come from the authors' pre-paper trace
statistics; generated tokens per segment are not published (our choice, in the code)."""),
        ("params", PARAMS),
        ("code", SETUP + '''
table = figures.table1(num_requests=600 if quick else 6000)
table.to_csv(out / "table1.csv", index=False)
display(figures.table1_wide(table))
display(table.groupby("augmentation")["rel_err"].agg(lambda e: e.abs().max()).round(3))'''),
        ("md", """Relative errors stay within a few percent except chatbot's returned tokens per call:
the pre-paper 286.5 cannot fit 4.45 calls into a 753-token context, so the generator scales
returns down (about 119 per call) to keep the context on target."""),
    ])
    nb("infercept_fig2_e2e", [
        ("md", """# InferCept Fig. 2 — normalized latency, throughput and TTFT against request rate

Five policies (vLLM's discard, ImprovedDiscard, Preserve, Swap, InferCept) on the mixed
workload, on four setups: GPT-J-6B on one A100 and Vicuna-13B at TP 2 from the released
iteration fits, Vicuna-13B on one A100 and Llama-3-70B at TP 4 from the roofline cost model.
Normalized latency is (latency − time in tools) ÷ generated tokens, ms/token, averaged over
finished requests; a run that leaves over 1% of its requests unfinished after 1.5× the
1800-s window is flagged `saturated` and counts as above every latency threshold.
Dashed: the paper's own points."""),
        ("params", PARAMS),
        ("code", SETUP + '''
from toolkit.plots.infercept import e2e_vs_rate
ours = figures.run_fig2(results_dir, quick, overrides, n_jobs=n_jobs)
ours.to_csv(out / "fig2_e2e.csv", index=False)
fig = e2e_vs_rate(ours, figures.paper_points())
save(fig, str(out / "fig2_e2e.png"))'''),
        ("md", "Sustainable rate at equal normalized latency, InferCept ÷ vLLM: ours, then the paper's."),
        ("code", '''thresholds = [50, 100, 200]
ratios = figures.rate_ratios(ours, thresholds)
ratios.to_csv(out / "fig2_rate_ratios.csv", index=False)
display(ratios.round(2))
display(figures.paper_rate_ratios(thresholds).round(2))
display(ours.pivot_table(index=["setup", "rps"], columns="series",
                         values="norm_latency_ms_mean").round(1))'''),
        ("md", """## Absolute curves against the paper's points

Per setup and policy: the median and worst factor between our normalized-latency curve and
the paper's points at the paper's rates (saturated runs left out), and the median of ours ÷
paper (below 1: ours lower)."""),
        ("code", '''errors = checks.fig2_curve_errors(ours)
errors.to_csv(out / "fig2_curve_errors.csv", index=False)
display(errors.round(2))'''),
        ("md", """## Claims, checked on these results"""),
        ("code", '''claims = checks.fig2_checks(ours, quick)
display(claims.round(3))
assert_claims(claims)
display(Markdown(checks.fig2_findings(ours)))'''),
        ("md", """## Where we differ, and why

- **The baselines' knees sit near the paper's** (vLLM within the factor asserted above), but
  **our InferCept saturates far later** than the paper's, so its equal-latency advantage is
  larger. Charging the part of each budgeted copy that outlasts its iteration
  (`run.charge_copies`) and the models' real context limits did not close the gap (see the
  sensitivities below); what the real system pays beyond the released iteration fit — the
  per-iteration review and swap bookkeeping on the CPU — is not in the model, and generated
  tokens per segment (not published) are our choice (16–48). Read the ratio as what the
  algorithm gives on this cost model, an upper bound of the real system's.
- **Context limits**: GPT-J-6B and Vicuna-13B v1.3 hold 2,048 tokens; a request stops where
  vLLM would stop it (its generation ends at the limit; a tool whose returned tokens would
  not fit is never called back and the output so far is the answer). `num_context_truncated`
  in each summary counts them; about 29% of the mixed workload's requests reach 2,048.
- **Normalized latency** divides by generated tokens; counting the tools' returned tokens
  as output too (the released benchmark's reading) lowers every value about threefold."""),
        ("md", """## Sensitivities the paper leaves open

GPT-J-6B on one A100, three policies, under each choice one override away: the A100's memory
(40 vs 80 GB), the attention term of the released fit (`cost.context_term`), free overlapped
copies (`run.charge_copies=false`, the old model) and no context limit. Both denominators of
the normalized latency are shown."""),
        ("code", '''sens = figures.run_sensitivity(results_dir, quick, overrides, n_jobs=n_jobs)
sens.to_csv(out / "fig2_sensitivity.csv", index=False)
display(sens.pivot_table(index=["variant", "rps"], columns="series",
                         values=["norm_latency_ms_mean", "norm_latency_incl_returned_ms_mean"]).round(1))'''),
    ])
    nb("infercept_motivation", [
        ("md", """# InferCept's motivation numbers — recomputation and memory waste per policy

Share of busy time spent recomputing discarded contexts, share waiting for swaps, and GPU
memory waste (KV capacity × time idle in preserved pauses, in batches stalled by
recomputation, or stalled by swaps) on GPT-J-6B / A100 with the mixed workload."""),
        ("params", PARAMS),
        ("code", SETUP + '''
from toolkit.plots.infercept import waste_bars
rates = [1.0] if quick else [1.0, 1.5, 2.0]
ours = figures.sweep(results_dir, "fig2", ["6B/1GPU"], figures.POLICIES, lambda s: rates, quick,
                     overrides, n_jobs)
table = figures.motivation(ours)
table.to_csv(out / "motivation.csv", index=False)
save(waste_bars(ours), str(out / "motivation_waste.png"))
display(table.round(3))'''),
        ("md", """What InferCept did with each augmentation's pauses (share of pauses by final action,
6B at the highest rate above), and the pause length beyond which discarding (in chunks)
wastes less than preserving, by the paused context and the context of the other running
requests (from the 6B cost model): the break-even grows with the other running context."""),
        ("code", '''run = Path(results_dir) / "fig2" / "gptj6b_a100" / "infercept" / f"rps{rates[-1]:g}"
actions = figures.actions_by_augmentation(run)
actions.to_csv(out / "actions_by_augmentation.csv")
display(actions.round(3))
display(figures.break_even_table().round(3))'''),
        ("md", """## Claims, checked on these results

The paper: recomputation is 37–40% of forward time under discard; discard wastes ~27% of GPU
memory, Swap ~26%, InferCept 0.69% — single figures, which are one rate of these curves.
Our generated tokens per segment are few, so recomputation weighs more under discard."""),
        ("code", '''claims = checks.motivation_checks(table, quick)
display(claims.round(3))
assert_claims(claims)
display(Markdown(checks.motivation_findings(table)))'''),
    ])
    nb("infercept_breakdown", [
        ("md", """# InferCept's technique breakdown

vLLM, then ImprovedDiscard (arrival order kept), + chunked recomputation (MinWasteDiscard),
+ budgeted pipelined swap (MinWasteSwap), + preserving pauses expected under 4 s (the
released heuristic), and full min-waste scheduling — Vicuna-13B at TP 2, mixed workload."""),
        ("params", PARAMS),
        ("code", SETUP + '''
from toolkit.plots.infercept import breakdown_bars
df = figures.run_breakdown(results_dir, quick, overrides, n_jobs=n_jobs)
df.to_csv(out / "breakdown.csv", index=False)
save(breakdown_bars(df, list(figures.BREAKDOWN.values())), str(out / "breakdown.png"))
display(df[["rps", "series", "norm_latency_ms_mean", "norm_latency_ms_p99", "waste_frac",
            "recompute_time_frac", "pauses_preserve", "pauses_discard", "pauses_swap"]].round(3))'''),
        ("md", """## Claims, checked on these results"""),
        ("code", '''claims = checks.breakdown_checks(df, quick)
display(claims.round(3))
assert_claims(claims)
display(Markdown(paper_verdicts(claims)))'''),
        ("md", """**Where we differ, and why.** The paper's (unverified) steps change latency by
tens of percent each; ours falls off a cliff at +MinWasteDiscard and recovers only once
short pauses are preserved. Recomputing *every* pause in chunks of at most S = 384 tokens
halves prefill throughput under the released fit (15.4 ms per iteration whatever its size),
and discarding every pause needs more recomputed tokens per second than 384-token iterations
give. +MinWasteSwap moves the long pauses to host memory but must still discard the short
ones (ALFWorld's many 0.09-s calls), which a swap round trip within the budget cannot beat.
Chunking pays only once most pauses are kept or swapped. The 4-s heuristic preserve is as
good as the full waste comparison here: the mixed workload's pauses are either ~0.1 s or
~20 s, so both rules mostly agree."""),
    ])
    nb("infercept_single_aug", [
        ("md", """# Single-augmentation runs — QA only and Chatbot only, vLLM against InferCept

The paper reports up to 2.3× (QA) and 1.9× (Chatbot) lower normalized latency than vLLM."""),
        ("params", PARAMS),
        ("code", SETUP + '''
from toolkit.plots.infercept import single_vs_rate
df = figures.run_single(results_dir, quick, overrides, n_jobs=n_jobs)
df.to_csv(out / "single_aug.csv", index=False)
save(single_vs_rate(df), str(out / "single_aug.png"))
wide = df.pivot_table(index=["augmentation", "rps"], columns="series",
                      values="norm_latency_ms_mean")
wide["vLLM / InferCept"] = wide["vLLM"] / wide["InferCept"]
display(wide.round(2))'''),
        ("md", """## Claims, checked on these results

The paper's rates for these runs are not published; its "up to" figures are compared with
our largest gain over the rates run."""),
        ("code", '''claims = checks.single_checks(df, quick)
display(claims.round(3))
assert_claims(claims)
display(Markdown(paper_verdicts(claims)))'''),
    ])
    nb("infercept_estimator", [
        ("md", """# Pause-duration estimator against the oracle

The released code knows each call's duration (the trace's oracle); the paper estimates the
remaining time as the time already waited and reports 93% of the oracle's performance."""),
        ("params", PARAMS),
        ("code", SETUP + '''
from toolkit.plots.infercept import e2e_vs_rate
df = figures.run_estimator(results_dir, quick, overrides, n_jobs=n_jobs)
df.to_csv(out / "estimator.csv", index=False)
save(e2e_vs_rate(df), str(out / "estimator.png"))
wide = df.pivot_table(index="rps", columns="series",
                      values=["norm_latency_ms_mean", "throughput_rps", "waste_frac"])
display(wide.round(3))'''),
        ("md", """## Claims, checked on these results"""),
        ("code", '''claims = checks.estimator_checks(df, quick)
display(claims.round(3))
assert_claims(claims)
display(Markdown(paper_verdicts(claims)))'''),
        ("md", """**Why the estimator does as well as the oracle here, and better under load.** With
the time already waited as the estimate, a pause starts preserved (estimate 0) and moves to
host memory within the swap budget as it lengthens, so it discards less and less as load
grows; the oracle discards long pauses at once whenever recomputing looks cheaper than
keeping them, and pays for the recomputation when the engine is busy. The paper reports 93%
of the oracle's performance."""),
    ])
