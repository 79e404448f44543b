"""DAS at the paper's scale on the simulator: ServeGen-shaped lengths up to the cap, the
drafter's acceptance measured on the tiny policy's real rollouts, H200 verify costs."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from experiments.das.lengths import problem_means, sample_lengths, servegen_output_lengths
from experiments.das.policy import publish
from experiments.das.runner import (
    build_spec,
    cache_root,
    keys_for,
    rng_for,
    summarize,
    task_config,
    write,
)
from experiments.das.task import make_problems
from toolkit.core.errors import ConfigError
from toolkit.cost.verify import VerifyCost
from toolkit.sim.rollout import AcceptanceTable, simulate_rollouts
from toolkit.spec.base import Drafter, NoDrafter
from toolkit.spec.replay import Rollout, replay

log = logging.getLogger(__name__)
CORPUS_EPOCHS = 8
ENGINE_BACKEND = Path(__file__).resolve().parent / "conf" / "backend" / "engine_inprocess.yaml"


def token_corpus(cfg: DictConfig) -> pd.DataFrame:
    """Recorded rollouts (`problem_id`, `sample_index`, `step`, `output_token_ids`): the
    file `backend.acceptance_rollouts`, or the tiny policy's own GRPO run without
    speculation (built once per task and policy, cached)."""
    path = cfg.backend.get("acceptance_rollouts")
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError("backend.acceptance_rollouts", f"no such file: {p}")
        return pd.read_parquet(p)
    from experiments.das.engine_run import run_engine

    plain = OmegaConf.to_container(cfg, resolve=True)
    plain.update(
        drafter={"_target_": "toolkit.spec.base.NoDrafter"},
        budget={"_target_": "toolkit.spec.budget.NoBudget"},
        backend=OmegaConf.to_container(OmegaConf.load(ENGINE_BACKEND)))
    plain["rl"] = {**plain["rl"], "steps": min(int(cfg.rl.steps), CORPUS_EPOCHS), "train": True}
    corpus_cfg = OmegaConf.create(plain)
    stamp = json.dumps({k: plain[k] for k in ("task", "policy", "rl", "seed")}, sort_keys=True)
    out = cache_root() / f"corpus-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}"
    if not (out / "corpus.done").exists():
        publish(out, lambda tmp: (run_engine(corpus_cfg, tmp),
                                  (tmp / "corpus.done").write_text(stamp)))
    return pd.read_parquet(out / "rollouts.parquet")


def acceptance_tables(cfg: DictConfig, drafter: Drafter) -> tuple[list[AcceptanceTable], float,
                                                                  pd.DataFrame]:
    """One table per recorded epoch (the drafter replayed over the corpus), the median
    proposal seconds, and the replay's rows."""
    if isinstance(drafter, NoDrafter):
        return [AcceptanceTable.none()], 0.0, pd.DataFrame()
    corpus = token_corpus(cfg)
    prompts = {p.problem_id: p.prompt() for p in make_problems(task_config(cfg))}
    epochs = [[Rollout(r.problem_id, r.sample_index, prompts[r.problem_id],
                       list(r.output_token_ids)) for r in g.itertuples()]
              for _, g in corpus.groupby("step", sort=True)]
    rows = replay(drafter, epochs, int(cfg.spec.max_tokens), int(cfg.backend.get("acceptance_stride", 1)))
    tables = [AcceptanceTable.from_frame(g) for _, g in rows.groupby("epoch", sort=True)]
    return tables, float(rows["propose_s"].median()), rows


def measured_draft_s(cfg: DictConfig, drafter: Drafter, propose_s: float) -> float:
    """The drafter's median proposal time, measured on this machine the first time this
    drafter (its settings and trie implementation) replays this corpus, then read back: the
    same config gives the same records, as a cached engine profile does."""
    trie = getattr(drafter, "_trie_cls", None)
    key = json.dumps({"drafter": OmegaConf.to_container(cfg.drafter, resolve=True),
                      "trie": None if trie is None else f"{trie.__module__}.{trie.__name__}",
                      "task": OmegaConf.to_container(cfg.task, resolve=True),
                      "max_tokens": int(cfg.spec.max_tokens),
                      "rollouts": cfg.backend.get("acceptance_rollouts"),
                      "stride": int(cfg.backend.get("acceptance_stride", 1))}, sort_keys=True)
    path = cache_root() / "draft_s" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    if path.is_file():
        return float(json.loads(path.read_text())["draft_s"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"draft_s": propose_s, "key": json.loads(key)}))
    tmp.replace(path)
    return propose_s


def run_sim(cfg: DictConfig, out: Path) -> dict[str, Any]:
    b = cfg.backend
    drafter, budget = build_spec(cfg)
    tables, propose_s, _ = acceptance_tables(cfg, drafter)
    if b.draft_s is not None:
        draft_s = float(b.draft_s)
    else:
        draft_s = measured_draft_s(cfg, drafter, propose_s) if propose_s > 0 else 0.0
    cost = VerifyCost.from_jsonl(b.verify_table) if b.verify_table else VerifyCost.from_jsonl()
    pool = servegen_output_lengths(str(b.servegen))
    rng = rng_for(cfg, 1)
    num_prompts, group = int(b.num_prompts), int(b.group_size)
    means = problem_means(rng, num_prompts, pool, int(b.max_len))
    rollouts, steps = pd.DataFrame(), pd.DataFrame()
    gen_s, makespans = [], []
    for step in tqdm(range(int(cfg.rl.steps)), desc="RL steps (sim)"):
        if step:
            means = np.minimum(means * rng.lognormal(0.0, float(b.drift), len(means)),
                               int(b.max_len))
        lengths = sample_lengths(rng, means, group, float(b.within_sigma), int(b.max_len))
        keys = keys_for(list(range(num_prompts)), group)
        res = simulate_rollouts(keys, lengths.ravel(), budget, tables[min(step, len(tables) - 1)],
                                cost, num_engines=int(b.num_engines), max_batch=int(b.max_batch),
                                prompt_len=int(b.prompt_len), draft_s=draft_s,
                                max_spec_tokens=int(cfg.spec.max_tokens),
                                seed=int(cfg.seed) * 1_000 + step)
        df = res.sequences.reset_index(drop=True)
        df.insert(0, "sample_index", [k.seq for k in keys])
        df.insert(0, "problem_id", [k.problem for k in keys])
        df.insert(0, "step", step)
        df["reward"] = np.nan
        df["output_token_ids"] = [[] for _ in range(len(df))]
        st = res.steps
        st.insert(0, "step", step)
        rollouts = pd.concat([rollouts, df], ignore_index=True)
        steps = pd.concat([steps, st], ignore_index=True)
        gen_s.append(res.makespan_s)
        makespans.append(res.makespan_s)
        budget.new_epoch()
        summary = summarize(rollouts, gen_s, makespans,
                            dict(backend="sim", draft_s=draft_s,
                                 measured_epochs=len(tables)), steps)
        write(out, cfg, rollouts, steps, summary)
    return summary
