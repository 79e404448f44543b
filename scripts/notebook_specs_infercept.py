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
from IPython.display import display
from toolkit.plots.style import save
from experiments.infercept import figures
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
        ("md", """## The claims, checked — and where we differ

Measured with `bash scripts/run_all.sh` (full mode, 1800-s windows, seed 0):

- **InferCept sustains at least 1.6× vLLM's rate at equal normalized latency on every
  setup — more than the paper says.** At 100 ms/token: 6B 4.11 vs 1.18 req/s (3.5×; paper
  1.96 vs 1.43, 1.4×), 13B/2 GPU 4.01 vs 1.54 (2.6×; paper 1.8×), 70B/4 GPU 2.36 vs 0.30
  (7.8×; paper 2.0×), 13B/1 GPU ≥ 2.0 vs 0.49 (≥ 4.1×: InferCept never crossed within the
  sweep; paper 1.2×).
- **The baselines' knees sit near the paper's**: vLLM crosses 100 ms/token at 1.18 req/s on
  6B (paper 1.43), 0.49 on 13B/1 GPU (0.67), 1.54 on 13B/2 GPU (1.26), 0.30 on 70B (0.44);
  Preserve collapses once paused contexts fill the KV pool (6B: 27 ms/token at 1.8 req/s,
  100 at 2.0; paper 211 at 1.8); Swap lies between them.
- **Our InferCept saturates 1.7–2.7× later than the paper's** (21 ms/token at 3.75 req/s on
  6B; the paper's is at 111 ms/token at 2.0). The simulator charges nothing for
  what the real system pays beyond the released iteration fit: budgeted swaps hide fully
  behind compute (per-layer pipelining taken as perfect), the per-iteration review and swap
  bookkeeping take no time, and generated tokens per segment — not published — are our
  choice (16–48). Read the equal-latency ratio as what the algorithm gives on this cost
  model, an upper bound of the real system's.
- **Memory waste** (share of KV capacity × busy time): InferCept 0.9–1.7% on 6B up to 2.0
  req/s (paper 0.69%), 0.5–1.5% on 13B/2 GPU up to 1.5 req/s; vLLM 8% at 1.0, 20% at 1.2 and
  67% at 1.5 req/s on 6B; Swap 4%, 7% and 19%. The paper's "around a quarter" (27% / 26%) is
  one point of these curves, near where each policy starts to saturate.
- **Normalized latency** divides by generated tokens; counting the tools' returned tokens
  as output too (`norm_latency_incl_returned_ms_mean` in each summary) lowers values ~3×."""),
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
        ("md", """The paper: recomputation is 37–40% of forward time under discard; discard wastes
~27% of GPU memory, Swap ~26%, InferCept 0.69%.

Ours (full mode, 6B/1 GPU): under vLLM's discard, recomputation takes 65% of busy time
at 1.0 req/s and 84% at 1.5 (paper 37–40%: our generated tokens per segment are few, so
recomputation weighs more); memory waste is 8% at 1.0, 67% at 1.5 and 79% at 2.0 req/s for
vLLM; 4%, 19% and 68% for Swap, which waits for copies 47–76% of its busy time; 42–82% for
Preserve; 0.9–1.7% for InferCept, which recomputes 8–10% of its busy time. The paper's single figures (27%, 26%) are one rate of
these curves."""),
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
        ("md", """Ours (full mode, 13B/2 GPU at 1.5 req/s): vLLM 77 ms/token (waste 14%),
ImprovedDiscard 77, **+MinWasteDiscard 3,839** (waste 5%), +MinWasteSwap 1,535, +heuristic
preserve 19.0, InferCept 19.6 (waste 1.6%); at 2.0 req/s: 394, 640, 6,175 and 4,430 (both
saturated: over 1% of requests unfinished), 20.0 and 20.7. Where we differ: the paper's (unverified) steps change latency by tens of percent
each; ours falls off a cliff and recovers only once short pauses are preserved. Recomputing *every* pause in chunks of at most S = 384 tokens
halves prefill throughput under the released fit (15.4 ms per iteration whatever its size:
0.068 ms/token at 384 tokens against 0.035 at 2,048), and discarding every pause needs about
20k recomputed tokens/s at 1.5 req/s — more than 384-token iterations give (about 14.7k).
+MinWasteSwap moves the long pauses to host memory but must still discard
the short ones (ALFWorld's 28 calls of 0.09 s per request), which a swap round trip within
the budget cannot beat. Chunking pays only once most pauses are kept or swapped. The 4-s heuristic preserve is as
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
        ("md", """Ours (full mode, 6B/1 GPU): QA only, vLLM ÷ InferCept = 1.3× at 1 req/s, 2.0× at 2,
5.3× at 3 (vLLM collapses at 4: 93×); Chatbot only 1.2×, 1.4×, 1.8× and 2.6× at 1–4 req/s.
The paper's "up to 2.3×" (QA) and "1.9×" (Chatbot) fall inside these ranges; its rates are
not published."""),
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
        ("md", """Ours (full mode, 6B/1 GPU): the estimator matches the oracle at low load (13.18 vs
13.09 ms/token at 1.0 req/s: 99% of its performance) and beats it as load grows (14.1 vs
15.4 at 2.5, 15.6 vs 21.0 at 3.75, 18.7 vs 298 at 5.0, where the oracle saturates first), at
the same throughput. The paper reports 93% of the oracle's performance. Why: with the time
already waited as the estimate, a pause starts preserved (estimate 0) and moves to host
memory within the swap budget as it lengthens, so it discards less and less as load grows
(220–1,360 discards up to 3.75 req/s against the oracle's 1,453–6,299); the oracle discards
long pauses at once whenever recomputing looks cheaper than keeping them, and pays for the
recomputation when the engine is busy."""),
    ])
