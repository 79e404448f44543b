"""The runs behind each DAS figure, as tables (one function per figure).

Engine points run the tiny policy's GRPO loop; simulator points the paper's scale; the
drafter comparisons (Figs. 4, 6, 7) replay every drafter over one recorded corpus of real
rollouts, so they see the very same tokens. Points are cached by their resolved config
(`experiments.common.sweep.run_points`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from experiments.common.sweep import compose_config, run_points
from experiments.das.runner import build_spec, decode_steps, run_das
from experiments.das.sim_run import acceptance_tables, token_corpus
from toolkit.cost.verify import VerifyCost
from toolkit.spec.makespan import fit_step_time

CONFIG_MODULE = "experiments.das.conf"
ENGINE_QUICK = ["rl.steps=3", "task.num_problems=8", "rl.group_size=4"]
SIM_QUICK = ["backend=sim", "rl.steps=3", "backend.num_prompts=16", "backend.max_len=4096",
             "backend.num_engines=2", *ENGINE_QUICK[1:]]
SIM_FULL = ["backend=sim", "rl.steps=6"]
PAPER = {"math_gen_time_cut": 0.50, "code_gen_time_cut": 0.25, "unlimited_slower": 0.15,
         "cap8k_cut": 0.30, "fit_mre": 0.12}
"""das.md: >50% less generation time (math), ~25% (code), length-aware up to 15% faster
than unlimited, >30% with an 8K cap, step-time fit error ~12%."""


def _run(cfg, out):
    return None, run_das(cfg, out)


def points(results_dir: str | Path, named: dict[str, Sequence[str]], n_jobs: int = 1) -> pd.DataFrame:
    """Run `{name: overrides}` into `<results_dir>/<name>`; one row per point."""
    pts = [({"run": name}, list(ov)) for name, ov in named.items()]
    return run_points(CONFIG_MODULE, pts, results_dir, n_jobs=n_jobs, run_fn=_run)


def sim_overrides(quick: bool) -> list[str]:
    return SIM_QUICK if quick else SIM_FULL


def engine_overrides(quick: bool) -> list[str]:
    return ENGINE_QUICK if quick else []


# Fig. 1 ---------------------------------------------------------------------------------
def effective_batch(results_dir: str | Path, quick: bool) -> pd.DataFrame:
    """Running sequences per decode step of one RL step without speculation, as a share of
    the batch it started with: the engine (tiny policy) and the simulator (paper scale)."""
    base = ["drafter=none", "budget=none", "rl.train=false"]
    named = {"fig1/engine": [*engine_overrides(quick), *base, "rl.steps=1"],
             "fig1/sim": [*sim_overrides(quick), *base, "rl.steps=1"]}
    points(results_dir, named)
    frames = []
    for name in named:
        st = pd.read_parquet(Path(results_dir) / name / "steps.parquet")
        if "engine" not in st.columns:
            st["engine"] = 0
        for _, g in st.groupby("engine"):
            g = g.reset_index(drop=True)
            frames.append(pd.DataFrame({"backend": name.split("/")[1], "engine": g["engine"],
                                        "decode_step": range(len(g)), "running": g["running"],
                                        "share": g["running"] / g["running"].max()}))
    return pd.concat(frames, ignore_index=True)


# Figs. 4, 6, 7 --------------------------------------------------------------------------
DRAFTERS = {
    "DAS (per problem, window 16)": ["drafter=das"],
    "DAS, one global tree": ["drafter=das", "drafter.scope=global"],
    "static (frozen after epoch 1)": ["drafter=static"],
    "SuffixDecoding (vLLM defaults)": ["drafter=suffix"],
    "n-gram (prompt lookup)": ["drafter=ngram"],
}
WINDOWS = {"1": 1, "4": 4, "16": 16, "32": 32, "all": None}


def _replay(quick: bool, overrides: Sequence[str]) -> pd.DataFrame:
    cfg = compose_config(CONFIG_MODULE, [*engine_overrides(quick), *overrides,
                                          "rl.steps=" + ("4" if quick else "8")])
    drafter, _ = build_spec(cfg)
    _, _, rows = acceptance_tables(cfg, drafter)
    return rows


def acceptance(quick: bool) -> pd.DataFrame:
    """Per drafter (and DAS window) and epoch, over one recorded corpus of the tiny
    policy's GRPO rollouts: accepted tokens per verify round (k = spec.max_tokens),
    acceptance rate, and drafting time per proposal."""
    runs = {**{name: ov for name, ov in DRAFTERS.items()},
            **{f"DAS, window {w}": ["drafter=das", f"das.window={'null' if v is None else v}"]
               for w, v in WINDOWS.items()}}
    frames = []
    for name, ov in runs.items():
        rows = _replay(quick, ov)
        drafted = rows[rows["drafted"] > 0]
        by = rows.groupby("epoch")
        table = pd.DataFrame({
            "accepted_per_round": drafted.groupby("epoch")["matched"].mean(),
            "acceptance_rate": by["matched"].sum() / by["drafted"].sum().clip(lower=1),
            "draft_share": by["drafted"].apply(lambda s: float((s > 0).mean())),
            "propose_us": by["propose_s"].median() * 1e6}).reindex(sorted(rows["epoch"].unique()))
        table["accepted_per_round"] = table["accepted_per_round"].fillna(0.0)
        table.insert(0, "drafter", name)
        frames.append(table.reset_index(names="epoch"))
    return pd.concat(frames, ignore_index=True)


# Fig. 8 ---------------------------------------------------------------------------------
def step_fits(engine_steps: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fits, points): the linear step-time model fitted on the H200 verify tables and, when
    given, on the engine's own steps (`tokens`, `model_s`); each with its mean relative
    error."""
    sources = {"H200 A_verify (ctx 2048)": VerifyCost.from_jsonl(),
               "H200 graph verify (ctx 1024/4096)": VerifyCost.from_graph_table()}
    pts = [pd.DataFrame({"source": name, "tokens": [b * q for b, q, _, _ in v.points()],
                         "seconds": [s for *_, s in v.points()]})
           for name, v in sources.items()]
    if engine_steps is not None and len(engine_steps):
        pts.append(pd.DataFrame({"source": "engine (tiny policy, this CPU)",
                                 "tokens": engine_steps["tokens"],
                                 "seconds": engine_steps["model_s"]}))
    points_df = pd.concat(pts, ignore_index=True)
    rows = []
    for name, g in points_df.groupby("source", sort=False):
        fit = fit_step_time(g["tokens"], g["seconds"])
        rows.append(dict(source=name, c_base_ms=fit.c_base * 1e3, c_tok_us=fit.c_tok * 1e6,
                         mean_rel_error=fit.mean_rel_error, points=len(g)))
    return pd.DataFrame(rows), points_df


# Figs. 10-11 ----------------------------------------------------------------------------
def generation(results_dir: str | Path, quick: bool, seeds: Sequence[int] = (0, 1)) -> pd.DataFrame:
    """Generation time and reward per RL step, with and without DAS: the engine (GRPO on
    the tiny policy, `seeds`) and the simulator (paper scale)."""
    seeds = seeds[:1] if quick else seeds
    systems = {"no speculation": ["drafter=none", "budget=none"],
               "DAS": ["drafter=das", "budget=length_aware"],
               "DAS drafter, uniform k=4": ["drafter=das", "budget=uniform"]}
    named = {}
    for sys_name, ov in systems.items():
        for seed in seeds:
            named[f"fig10/engine/{_slug(sys_name)}/seed{seed}"] = [
                *engine_overrides(quick), *ov, f"seed={seed}"]
        if sys_name != "DAS drafter, uniform k=4" or not quick:
            named[f"fig10/sim/{_slug(sys_name)}"] = [*sim_overrides(quick), *ov]
    summaries = points(results_dir, named)
    rows = []
    for (name, _), s in zip(named.items(), summaries.to_dict("records")):
        parts = name.split("/")
        system = SLUGS[parts[2]]
        seed = int(parts[3][4:]) if len(parts) > 3 else 0
        for step, (g, r) in enumerate(zip(s["generation_s_per_step"], s["reward_per_step"])):
            rows.append(dict(backend=parts[1], system=system, seed=seed, step=step,
                             generation_s=g, reward=r,
                             decode_steps=s["decode_steps_per_step"][step],
                             accepted_per_verify=s["accepted_per_verify_per_step"][step]))
    return pd.DataFrame(rows)


SLUGS = {"none": "no speculation", "das": "DAS", "das_uniform": "DAS drafter, uniform k=4"}


def _slug(name: str) -> str:
    return {v: k for k, v in SLUGS.items()}[name]


def reduction(gen: pd.DataFrame, skip_first: int = 1) -> pd.DataFrame:
    """Per backend: generation time with DAS over without, from step `skip_first` on (the
    first step has no history), as 1 - ratio of the summed times."""
    rows = []
    for backend, g in gen.groupby("backend"):
        g = g[g["step"] >= skip_first]
        t = g.groupby("system")["generation_s"].sum()
        n = g.groupby("system")["decode_steps"].sum()
        base_t, base_n = t.get("no speculation", float("nan")), n.get("no speculation", float("nan"))
        for system in (s for s in t.index if s != "no speculation"):
            rows.append(dict(backend=backend, system=system, steps_ratio=n[system] / base_n,
                             no_spec_s=base_t, das_s=t[system], reduction=1 - t[system] / base_t))
    return pd.DataFrame(rows)


# Fig. 12 --------------------------------------------------------------------------------
BUDGETS = ("none", "uniform", "unlimited", "length_aware", "classes")


def engine_counts(quick: bool) -> tuple[int, int]:
    """Engines in the ablation: the setup's, and a quarter as many (4x the batch each)."""
    return (2, 1) if quick else (8, 2)


def budget_ablation(results_dir: str | Path, quick: bool,
                    uniform_ks: Sequence[int] = (2, 4, 8)) -> pd.DataFrame:
    """Simulated makespan for each budget with the DAS drafter, uniform at several k (to
    match the length-aware budget's verified tokens), at the setup's engine count and at a
    quarter of it (4x the batch per engine: closer to compute-bound)."""
    named = {}
    for n in engine_counts(quick):
        base = [*sim_overrides(quick), "drafter=das", f"backend.num_engines={n}"]
        for b in BUDGETS:
            named[f"fig12/e{n}/{b}"] = [*base, f"budget={b}"]
        for k in uniform_ks:
            named[f"fig12/e{n}/uniform_k{k}"] = [*base, "budget=uniform", f"budget.k={k}"]
    summaries = points(results_dir, named)
    rows = []
    for name, s in zip(named, summaries.to_dict("records")):
        _, engines, budget = name.split("/")
        rows.append(dict(engines=int(engines[1:]), budget=budget, makespan_s=s["makespan_s"],
                         steps_after_first=float(sum(s["makespan_s_per_step"][1:])),
                         draft_tokens=s["num_draft_tokens"], accepted=s["num_accepted_tokens"]))
    return pd.DataFrame(rows)


WEAK_DRAFTER = "ngram"
"""The drafter whose acceptance on the tiny policy's tokens is low (~0.3 accepted per verify
step against DAS's ~5): the budgets ranked again where drafts are mostly rejected."""


def budget_by_drafter(results_dir: str | Path, quick: bool) -> pd.DataFrame:
    """Makespan after the first step per budget (uniform at k=4) at the setup's engine count,
    with the DAS drafter (the runs of `budget_ablation`) and with the weak n-gram drafter."""
    engines = engine_counts(quick)[0]
    runs = {(d, b): f"fig12/e{engines}/{b}" if d == "das" else f"fig12/{d}_e{engines}/{b}"
            for d in ("das", WEAK_DRAFTER) for b in ("none", "uniform", "unlimited", "length_aware")}
    summaries = points(results_dir, {name: [*sim_overrides(quick), f"drafter={d}",
                                            f"backend.num_engines={engines}", f"budget={b}"]
                                     for (d, b), name in runs.items()})
    return pd.DataFrame([dict(drafter=d, budget=b,
                              steps_after_first=float(sum(s["makespan_s_per_step"][1:])),
                              accepted_per_verify=s["mean_accepted_per_verify"])
                         for (d, b), s in zip(runs, summaries.to_dict("records"))])


def short_request_budget(results_dir: str | Path, quick: bool) -> pd.DataFrame:
    """Under the length-aware budget (the setup's engine count in `budget_ablation`): draft
    tokens per output token by length quartile of the sequence, after the first step."""
    engines = f"e{engine_counts(quick)[0]}"
    df = pd.read_parquet(Path(results_dir) / "fig12" / engines / "length_aware" / "rollouts.parquet")
    df = df[df["step"] >= 1].copy()
    df["quartile"] = pd.qcut(df["num_output_tokens"], 4, labels=["Q1 (shortest)", "Q2", "Q3",
                                                                "Q4 (longest)"])
    g = df.groupby("quartile", observed=True)
    return pd.DataFrame({"sequences": g.size(),
                         "zero_budget_share": g["num_draft_tokens"].apply(lambda s: (s == 0).mean()),
                         "draft_per_token": g["num_draft_tokens"].sum() / g["num_output_tokens"].sum()})


# Fig. 13 --------------------------------------------------------------------------------
def cap_and_batch(results_dir: str | Path, quick: bool) -> pd.DataFrame:
    """Generation time with and without DAS (length-aware) at the 16K and 8K caps, and at
    the paper's batch and half of it."""
    cap_full, cap_half = (4096, 2048) if quick else (16384, 8192)
    prompts = 16 if quick else 128
    settings = {"cap 16K, batch full": [f"backend.max_len={cap_full}"],
                "cap 8K, batch full": [f"backend.max_len={cap_half}"],
                "cap 16K, batch half": [f"backend.max_len={cap_full}",
                                        f"backend.num_prompts={prompts // 2}"]}
    named = {}
    for label, ov in settings.items():
        for system, sov in (("none", ["drafter=none", "budget=none"]),
                            ("das", ["drafter=das", "budget=length_aware"])):
            named[f"fig13/{_label_slug(label)}/{system}"] = [*sim_overrides(quick), *ov, *sov]
    summaries = points(results_dir, named)
    by = {n: s for n, s in zip(named, summaries.to_dict("records"))}
    rows = []
    for label in settings:
        none = by[f"fig13/{_label_slug(label)}/none"]
        das = by[f"fig13/{_label_slug(label)}/das"]
        t0 = sum(none["makespan_s_per_step"][1:])
        t1 = sum(das["makespan_s_per_step"][1:])
        rows.append(dict(setting=label, no_spec_s=t0, das_s=t1, reduction=1 - t1 / t0))
    return pd.DataFrame(rows)


def _label_slug(label: str) -> str:
    return label.replace(" ", "").replace(",", "_")


__all__ = ["effective_batch", "acceptance", "step_fits", "generation", "reduction",
           "budget_ablation", "short_request_budget", "cap_and_batch", "token_corpus", "PAPER"]


def engine_steps(results_dir: str | Path, quick: bool) -> pd.DataFrame:
    """The engine's own steps (tokens, model seconds) of a short DAS run with an unlimited
    budget, so steps verify anything from 1 to `spec.max_tokens` + 1 tokens per sequence."""
    named = {"fig8/engine": [*engine_overrides(quick), "drafter=das", "budget=unlimited"]}
    points(results_dir, named)
    steps = pd.read_parquet(Path(results_dir) / "fig8" / "engine" / "steps.parquet")
    cfg = compose_config(CONFIG_MODULE, named["fig8/engine"])
    return decode_steps(steps, int(cfg.spec.max_tokens))
