"""DAS on the engine: the tiny policy's rollouts, GRPO between RL steps."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from experiments.das.engine_backend import EngineRollouts
from experiments.das.grpo import GRPOConfig, GRPOTrainer, group_advantages
from experiments.das.policy import PolicyConfig, ensure_policy
from experiments.das.runner import (
    build_spec,
    cache_root,
    refit_budget,
    summarize,
    task_config,
    write,
)
from experiments.das.task import make_problems

log = logging.getLogger(__name__)


def run_engine(cfg: DictConfig, out: Path) -> dict[str, Any]:
    """The RL loop on one CPU thread: the tiny model gains nothing from more, and timings
    stay comparable when other work shares the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_engine(cfg, out)
    finally:
        torch.set_num_threads(threads)


def _run_engine(cfg: DictConfig, out: Path) -> dict[str, Any]:
    task = task_config(cfg)
    problems = make_problems(task)
    policy = ensure_policy(cache_root() / "policy", task,
                           PolicyConfig(**OmegaConf.to_container(cfg.policy), seed=int(cfg.seed)))
    drafter, budget = build_spec(cfg)
    b = cfg.backend
    backend = EngineRollouts(policy, drafter, budget, int(cfg.spec.max_tokens),
                             int(b.num_kv_blocks), int(b.block_size), int(b.max_num_seqs),
                             int(cfg.seed))
    trainer = GRPOTrainer(policy, GRPOConfig(lr=float(cfg.rl.lr)), int(cfg.seed)) \
        if cfg.rl.train else None
    rollouts, steps = pd.DataFrame(), pd.DataFrame()
    gen_s, makespans, fits, losses = [], [], [], []
    for step in tqdm(range(int(cfg.rl.steps)), desc="RL steps"):
        df, st, secs = backend.generate(step, problems, int(cfg.rl.group_size),
                                        float(cfg.rl.temperature), task.max_solution_len + 8)
        rollouts = pd.concat([rollouts, df], ignore_index=True)
        steps = pd.concat([steps, st], ignore_index=True)
        gen_s.append(secs)
        makespans.append(float(df["finish_s"].max()))
        fits.append(refit_budget(budget, steps, int(cfg.spec.max_tokens)))
        if trainer is not None:
            by_id = {p.problem_id: p for p in problems}
            adv = group_advantages(df["problem_id"].tolist(), df["reward"].tolist())
            losses.append(trainer.step([by_id[p].prompt() for p in df["problem_id"]],
                                       df["output_token_ids"].tolist(), adv))
            backend.update_weights(trainer.state_dict())
        backend.new_epoch()
        summary = summarize(rollouts, gen_s, makespans,
                            dict(backend="engine_inprocess", step_time_fit=fits, loss=losses),
                            steps)
        write(out, cfg, rollouts, steps, summary)
    return summary
