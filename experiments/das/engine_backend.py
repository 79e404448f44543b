"""Rollouts on the toolkit's engine: the tiny policy's G samples per problem, generated with
or without speculation, with each sequence's counters and finish time, and the running
batch after every engine step (the effective batch of Fig. 1)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.das.task import Problem, reward
from toolkit.engine import SamplingParams
from toolkit.engine.config import EngineConfig
from toolkit.engine.engine import LLMEngine


class EngineRollouts:
    """One engine for the whole run; `update_weights` after each policy step."""

    def __init__(self, policy_dir: str | Path, drafter: Any, budget: Any, num_spec_tokens: int,
                 num_kv_blocks: int, block_size: int, max_num_seqs: int, seed: int) -> None:
        self.engine = LLMEngine(EngineConfig(
            model=str(policy_dir), num_kv_blocks=num_kv_blocks, block_size=block_size,
            max_num_seqs=max_num_seqs, seed=seed, drafter=drafter, spec_budget=budget,
            num_speculative_tokens=num_spec_tokens, device="cpu", dtype="float32"))
        self.seed = seed

    def generate(self, step: int, problems: Sequence[Problem], group_size: int,
                 temperature: float, max_tokens: int) -> tuple[pd.DataFrame, pd.DataFrame, float]:
        """(one row per sample, one row per engine step, generation seconds)."""
        engine = self.engine
        ids: dict[str, tuple[Problem, int]] = {}
        for p in problems:
            for j in range(group_size):
                seed = hash((self.seed, step, p.problem_id, j)) & 0x7FFFFFFF
                params = SamplingParams(temperature=temperature, max_tokens=max_tokens, seed=seed)
                rid = f"s{step}-p{p.problem_id}-{j}"
                engine.add_request(p.prompt(), params, request_id=rid, problem=p.problem_id)
                ids[rid] = (p, j)
        engine.start_speculation_step(list(ids))
        steps = []
        start, start_clock = time.perf_counter(), engine.clock()
        while engine.has_unfinished():
            running = len(engine.scheduler.decoding) + len(engine.scheduler.running.prefilling)
            t0 = time.perf_counter()
            engine.step()
            tokens, model_s = engine.last_step
            steps.append((running, tokens, model_s, time.perf_counter() - t0))
        elapsed = time.perf_counter() - start
        rows = []
        for rid, (p, j) in ids.items():
            out = engine.output(rid).outputs[0]
            rows.append(dict(step=step, problem_id=p.problem_id, sample_index=j,
                             problem_size=len(p.digits), num_output_tokens=len(out.token_ids),
                             num_draft_tokens=out.num_draft_tokens,
                             num_accepted_tokens=out.num_accepted_tokens,
                             num_verify_steps=out.num_verify_steps,
                             reward=reward(p, out.token_ids), output_token_ids=out.token_ids))
        finish = {r.request_id: r.finish_s for r in engine.take_records()}
        for row, rid in zip(rows, ids):
            row["finish_s"] = finish[rid] - start_clock if rid in finish else float("nan")
        step_rows = pd.DataFrame(steps, columns=["running", "tokens", "model_s", "wall_s"])
        step_rows.insert(0, "engine_step", range(len(steps)))
        step_rows.insert(0, "step", step)
        return pd.DataFrame(rows), step_rows, elapsed

    def update_weights(self, state_dict) -> None:
        self.engine.update_weights(state_dict)

    def new_epoch(self) -> None:
        self.engine.new_epoch()
