"""One DAS run from a composed config: RL steps of rollouts on the engine (the tiny policy,
trained with GRPO between steps) or on the simulator (the paper's scale), with speculation
as the `drafter` and `budget` groups say.

A run directory gets `rollouts.parquet` (one row per sample and step), `steps.parquet`
(one row per engine decode step: the effective batch), `summary.json` and `config.yaml`;
each RL step rewrites them, so a run that stops halfway keeps the steps it finished.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

import experiments.common.runner  # noqa: F401  (registers ${shared_data:...})
from experiments.das.task import TaskConfig
from toolkit.core.errors import ConfigError
from toolkit.core.policy import resolve_policy
from toolkit.spec.base import Drafter, SeqKey
from toolkit.spec.budget import LengthAwareBudget, SpecBudget
from toolkit.spec.makespan import fit_step_time

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]


def cache_root() -> Path:
    """Where built policies and token corpora are kept ($TOOLKIT_CACHE or .cache/das)."""
    return Path(os.environ.get("TOOLKIT_CACHE", REPO / ".cache")) / "das"


def task_config(cfg: DictConfig) -> TaskConfig:
    return TaskConfig(**OmegaConf.to_container(cfg.task, resolve=True))


def build_spec(cfg: DictConfig) -> tuple[Drafter, SpecBudget]:
    """The run's drafter and budget, built from their groups (unknown settings fail)."""
    drafter = resolve_policy(OmegaConf.to_container(cfg.drafter, resolve=True), Drafter, "drafter")
    budget = resolve_policy(OmegaConf.to_container(cfg.budget, resolve=True), SpecBudget, "budget")
    return drafter, budget


def run_das(cfg: DictConfig, out_dir: str | Path) -> dict[str, Any]:
    """Run every RL step into `out_dir`; return the summary."""
    name = cfg.backend.name
    if name == "engine_inprocess":
        from experiments.das.engine_run import run_engine

        return run_engine(cfg, Path(out_dir))
    if name == "sim":
        from experiments.das.sim_run import run_sim

        return run_sim(cfg, Path(out_dir))
    raise ConfigError("backend", f"unknown backend {name!r} (engine_inprocess, sim)")


def summarize(rollouts: pd.DataFrame, gen_s: list[float], makespans: list[float],
              extra: dict[str, Any], steps: pd.DataFrame | None = None) -> dict[str, Any]:
    """The per-step and whole-run figures of a run (`steps`: one row per decode step, with
    `engine` when there are several: the busiest engine's count is the step's)."""
    by_step = rollouts.groupby("step")
    if steps is not None and len(steps):
        keys = ["step", "engine"] if "engine" in steps.columns else ["step"]
        counts = steps.groupby(keys).size()
        if "engine" in steps.columns:
            counts = counts.groupby("step").max()
        extra = {**extra, "decode_steps_per_step": [int(x) for x in counts]}
    verify = rollouts["num_verify_steps"].sum()
    return dict(
        generation_s_per_step=gen_s, makespan_s_per_step=makespans,
        makespan_s=float(sum(makespans)), generation_s=float(sum(gen_s)),
        reward_per_step=[None if np.isnan(x) else float(x) for x in by_step["reward"].mean()],
        mean_len_per_step=[float(x) for x in by_step["num_output_tokens"].mean()],
        max_len_per_step=[int(x) for x in by_step["num_output_tokens"].max()],
        accepted_per_verify_per_step=[
            float(a / v) if v else 0.0 for a, v in zip(by_step["num_accepted_tokens"].sum(),
                                                      by_step["num_verify_steps"].sum())],
        mean_accepted_per_verify=float(rollouts["num_accepted_tokens"].sum() / verify)
        if verify else 0.0,
        num_draft_tokens=int(rollouts["num_draft_tokens"].sum()),
        num_accepted_tokens=int(rollouts["num_accepted_tokens"].sum()),
        **extra)


def write(out: Path, cfg: DictConfig, rollouts: pd.DataFrame, steps: pd.DataFrame,
          summary: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rollouts.to_parquet(out / "rollouts.parquet", index=False)
    steps.to_parquet(out / "steps.parquet", index=False)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    OmegaConf.save(cfg, out / "config.yaml", resolve=True)


def decode_steps(steps: pd.DataFrame, max_spec_tokens: int) -> pd.DataFrame:
    """The engine's decode and verify steps (no prompt in them: at most max_spec_tokens + 1
    tokens per running sequence): what the budget's step-time model describes."""
    return steps[(steps["tokens"] > 0)
                 & (steps["tokens"] <= steps["running"] * (max_spec_tokens + 1))]


def refit_budget(budget: SpecBudget, steps: pd.DataFrame,
                 max_spec_tokens: int) -> dict[str, float] | None:
    """Refit a length-aware budget's step-time model on the engine's own decode and verify
    steps (tokens, model seconds); return the fit (None for other budgets or too few
    steps)."""
    steps = decode_steps(steps, max_spec_tokens)
    if not isinstance(budget, LengthAwareBudget) or len(steps) < 8:
        return None
    fit = fit_step_time(steps["tokens"], steps["model_s"])
    if fit.c_base > 0 and fit.c_tok > 0:
        budget.c_base, budget.c_tok = fit.c_base, fit.c_tok
    return dict(c_base=fit.c_base, c_tok=fit.c_tok, mean_rel_error=fit.mean_rel_error)


def keys_for(problems: list[int], group_size: int) -> list[SeqKey]:
    return [SeqKey(p, j) for p in problems for j in range(group_size)]


def rng_for(cfg: DictConfig, *parts: int) -> np.random.Generator:
    return np.random.default_rng([int(cfg.seed), *parts])

