"""The cells of every figure notebook (see build_notebooks.py)."""

from __future__ import annotations

from collections.abc import Callable

PARAMS = '''backend = "sim"
quick = False
overrides = []
results_dir = "results/preble"
n_jobs = 2'''

SETUP = '''from pathlib import Path
import pandas as pd
from IPython.display import display
from toolkit.plots.style import save
assert backend == "sim", "the engine and http backends arrive with issue [2/3]"
out = Path(results_dir) / "figures"
out.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 160)'''


def register(nb: Callable) -> None:
    nb("fig3_latency_vs_rate", [
        ("md", """# Preble Fig. 3 — latency vs request rate, Preble vs SGLang round-robin

Five workloads, each at the paper's request rates, on: Mistral-7B on 2 and 4 A6000
(Preble's published cost fit), Llama-3-70B as 2 replicas × TP 4 (the paper ran 8 H100s; we use
the measured H200 TP-4 shard tables plus an all-reduce term), and Llama-3-8B on 2 H200
(not in the paper; rates 4× the 2-A6000 panel). Dashed: the paper's own points."""),
        ("params", PARAMS),
        ("code", SETUP + '''
from experiments.preble import figures
from toolkit.plots.preble import latency_vs_rate
setups = ["mistral_a6000x2"] if quick else list(figures.SETUPS)
workloads = ["toolbench", "programming"] if quick else list(figures.WORKLOADS)'''),
        ("code", '''tables = []
for setup in setups:
    ours = figures.run_fig3(setup, quick, overrides, results_dir, workloads, n_jobs)
    fig = latency_vs_rate(ours, figures.fig3_paper(setup), setup)
    save(fig, str(out / f"fig3_{setup}.png"))
    tables.append(figures.ratio_table(ours, setup))
table = pd.concat(tables, ignore_index=True)
table.to_csv(out / "fig3_ratios.csv", index=False)'''),
        ("md", "Round-robin ÷ Preble latency per workload, setup and rate: ours beside the paper's."),
        ("code", "display(table.round(2))\ndisplay(figures.ratio_summary(table).round(2))"),
        ("md", """## The paper's claims, checked

Where a claim does not hold, or our ratios leave the paper's range, the reasons below apply:
the simulator has no scheduling or tokenizer overhead and its engines batch without Python
delays (the paper's SGLang v0.1.12 is much slower per iteration), so at the paper's lower
rates both systems are underloaded and their latencies close; the gap opens only where
round-robin's duplicated prefixes exhaust the KV cache or its prefill queue saturates. On
programming the 2,400-token shared system prompt makes every GPU hit ~95% under either
router, so Preble's gain is smallest there, as in the paper."""),
        ("code", "display(figures.fig3_checks(table))"),
    ])
    nb("fig4_azure_mix", [
        ("md", """# Preble Fig. 4 — mixed tool use + video QA with Azure arrivals (4 A6000)

Arrival times from the Azure LLM inference trace (conversation service, rows from 200, ×0.7);
the paper reports 6.02× mean and 4.61× p99 latency for Preble over SGLang."""),
        ("params", PARAMS),
        ("code", SETUP + '''
from experiments.preble import extras, paper
from toolkit.plots.preble import metric_bars
ours = extras.run_azure_mix(quick, overrides, results_dir, n_jobs)
metrics = ["latency_s_mean", "latency_s_p99", "tpot_s_mean", "ttft_s_mean"]
both = pd.concat([ours.assign(source="toolkit")[["source", "system", *metrics]],
                  paper.FIG4.assign(source="paper")], ignore_index=True)
save(metric_bars(both, metrics, "Azure mix: toolkit vs paper"), str(out / "fig4_azure_mix.png"))'''),
        ("code", '''ratios = ours.set_index("system")[metrics]
ratio = (ratios.loc["sglang_rr"] / ratios.loc["preble"]).rename("toolkit")
display(pd.concat([ratio, pd.Series(paper.FIG4_RATIOS, name="paper")], axis=1).round(2))'''),
        ("md", """Our absolute latencies are lower than the paper's (no runtime overheads in the
simulator, see Fig. 3's notes); the ratio is what to compare. The Azure code trace is too
short for 4 GPUs' worth of requests from row 200, so the conversation trace supplies arrivals
(its mean rate is lower; the paper does not say which trace Fig. 4 used)."""),
    ])
    nb("fig5_ablation", [
        ("md", """# Preble Fig. 5 — ablation on tool use with Zipf-1.1 popularity (4 A6000)

Each bar adds one feature: SGLang round-robin → E2 (no re-adjustment) → + rebalancing and
hot-prefix autoscaling → + prefill/decode balancing → + the priority wait queue. The paper
reports every step improving the mean except the last, which improves p99; its bar heights
are not recoverable from any text source."""),
        ("params", PARAMS + "\nrps = 24.0"),
        ("code", SETUP + '''
from experiments.preble import extras
from toolkit.plots.preble import ablation_bars
df = extras.run_ablation(rps, quick, overrides, results_dir, n_jobs)
save(ablation_bars(df), str(out / "fig5_ablation.png"))
display(df[["step", "latency_s_mean", "latency_s_p99", "ttft_s_mean", "cache_hit_ratio"]].round(3))'''),
        ("code", "display(extras.ablation_checks(df))"),
        ("md", """**Where we differ.** E2 alone gives almost all of the gain in the simulator.
Rebalancing moves prefixes only between GPUs whose windowed load differs by 1.5×, which
E2's load cost rarely lets happen here, so it changes little. Prefill/decode balancing
routes explored requests to GPUs whose 30-s hit ratio is ≥ 0.7; with Zipf popularity every
GPU is above it most of the time, and the stale window herds new prefixes, so in our runs it
does not help the mean (the paper's runtime costs prefill/decode interference more than a
chunked-prefill engine does). The priority queue's effect on p99 depends on the baseline
LPM's starvation of low-hit requests."""),
    ])
    nb("scheduler_scalability", [
        ("md", """# Preble §4.4 — the global scheduler's decision rate

A burst of requests saturates the E2 router alone (no engines): decisions per second vs the
number of GPUs and the tree size (distinct prefixes). The paper: 245 req/s on tool use (its
most complex tree) and 2,931 req/s on video QA, one number each on its A6000 testbed."""),
        ("params", PARAMS),
        ("code", SETUP + '''
from experiments.preble import extras, paper
from toolkit.plots.preble import scalability
df = extras.scheduler_scalability(quick)
save(scalability(df, paper.SCHEDULER_RATES), str(out / "scheduler_scalability.png"))
display(df.round(0))
display(df.groupby("workload")["decisions_per_s"].agg(["min", "max"])
        .assign(paper=pd.Series(paper.SCHEDULER_RATES)).round(0))'''),
    ])
    nb("table1_workload_stats", [
        ("md", """# Preble Table 1 — workload statistics of the generated workloads

The datasets (ToolBench, ALFWorld, APPS, NExT-QA, LooGLE) are not available offline, so the
toolkit generates workloads whose statistics match the paper's Table 1. "Shared prefix" is
read as the prefix a request shares with an earlier one (an infinite cache's hit), which is
the reading Table 1's numbers fit; the share with any other request is shown too."""),
        ("params", PARAMS),
        ("code", SETUP + '''
from experiments.preble import extras, paper
ours = extras.table1(quick, overrides)
cols = {"prompt_len_mean": "prompt_len_mean", "prompt_len_std": "prompt_len_std",
        "output_len_mean": "output_len_mean", "output_len_std": "output_len_std",
        "cached_prefix_share_mean": "shared_prefix_pct_mean",
        "cached_prefix_share_std": "shared_prefix_pct_std",
        "key_portion_share_mean": "key_portion_pct_mean",
        "key_portion_share_std": "key_portion_pct_std",
        "key_sharing_mean": "key_sharing_mean", "key_sharing_std": "key_sharing_std"}
mine = ours.rename(columns=cols)[["workload", *cols.values()]]
for c in mine.columns:
    if "pct" in c:
        mine[c] = mine[c] * 100
both = pd.concat([mine.assign(source="toolkit"), paper.TABLE1.assign(source="paper")])
both = both.set_index(["workload", "source"]).sort_index()
both.to_csv(out / "table1.csv")
display(both.round(1))
display(ours[["workload", "num_requests", "shared_prefix_share_mean"]].round(3))'''),
    ])
    nb("mooncake_replay", [
        ("md", """# Mooncake conversation trace replay (8 H200, Llama-3-8B)

The real Kimi conversation trace (12,031 requests, 512-token block hashes) replayed under
three routers with Preble's local scheduler. Not a figure of the paper: a check that the
routers behave on a real trace with real prefix sharing (36.6% of blocks seen before)."""),
        ("params", PARAMS),
        ("code", SETUP + '''
from experiments.preble import extras
from toolkit.plots.preble import metric_bars
df = extras.run_mooncake(quick, overrides, results_dir, n_jobs)
metrics = ["latency_s_mean", "latency_s_p99", "ttft_s_mean", "cache_hit_ratio"]
save(metric_bars(df.assign(source="toolkit"), metrics, "Mooncake replay"),
     str(out / "mooncake_replay.png"))
display(df[["system", *metrics, "throughput_rps", "num_preemptions"]].round(3))'''),
    ])
