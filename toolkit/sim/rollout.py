"""An RL step's rollouts on the simulator: every sequence of the batch starts at once on
its engine (data parallel: whole problems per engine), decodes with speculation as the
budget allows, and the step ends when the last sequence does (the makespan).

What each verify step accepts comes from a drafter's statistics on real tokens
(`toolkit.spec.replay`): one (d, m) pair per sequence and step, drawn from the measured
positions, gives drafted = min(d, k) and accepted = min(m, k) for a budget of k. A step
costs `VerifyCost(batch, mean tokens per sequence, mean context)` plus the drafter's CPU
time for the sequences that drafted (`draft_s`). Prefill is not modelled: the prompts are
short next to the outputs, and it costs the same with and without speculation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from toolkit.spec.base import SeqKey
from toolkit.spec.budget import SpecBudget


@dataclass(frozen=True)
class AcceptanceTable:
    """Per-position draft statistics: `drafted` d and `matched` m (m <= d)."""

    drafted: np.ndarray
    matched: np.ndarray

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> AcceptanceTable:
        if df.empty:
            raise ValueError("AcceptanceTable: no measured positions")
        return cls(df["drafted"].to_numpy(np.int64), df["matched"].to_numpy(np.int64))

    @classmethod
    def none(cls) -> AcceptanceTable:
        """A drafter that never drafts."""
        return cls(np.zeros(1, np.int64), np.zeros(1, np.int64))

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        j = rng.integers(len(self.drafted), size=n)
        return self.drafted[j], self.matched[j]


@dataclass(frozen=True)
class RolloutResult:
    """Per sequence: finish time, drafted, accepted, verify steps; per engine step: time,
    engine, running batch, tokens, step seconds."""

    sequences: pd.DataFrame
    steps: pd.DataFrame

    @property
    def makespan_s(self) -> float:
        return float(self.sequences["finish_s"].max()) if len(self.sequences) else 0.0


def simulate_rollouts(keys: Sequence[SeqKey], lengths: Sequence[int], budget: SpecBudget,
                      table: AcceptanceTable, cost, *, num_engines: int = 1,
                      max_batch: int = 1024, prompt_len: int = 0, draft_s: float = 0.0,
                      max_spec_tokens: int = 32, seed: int = 0) -> RolloutResult:
    """Simulate one step's rollouts; `cost(batch, q, ctx)` gives a step's seconds."""
    if len(keys) != len(lengths):
        raise ValueError(f"simulate_rollouts: {len(keys)} keys but {len(lengths)} lengths")
    problems = sorted({k.problem for k in keys}, key=repr)
    engine_of = {p: i % num_engines for i, p in enumerate(problems)}
    budget.start_step(list(keys), [engine_of[k.problem] for k in keys])
    rng = np.random.default_rng(seed)
    seq_parts, step_parts = [], []
    for e in range(num_engines):
        idx = [i for i, k in enumerate(keys) if engine_of[k.problem] == e]
        if idx:
            s, st = _one_engine(e, [keys[i] for i in idx], np.asarray(lengths)[idx], budget,
                                table, cost, max_batch, prompt_len, draft_s, max_spec_tokens,
                                rng)
            s.index = idx
            seq_parts.append(s)
            step_parts.append(st)
    seqs = pd.concat(seq_parts).sort_index() if seq_parts else pd.DataFrame()
    steps = pd.concat(step_parts, ignore_index=True) if step_parts else pd.DataFrame()
    return RolloutResult(seqs, steps)


def _one_engine(engine: int, keys: list[SeqKey], lengths: np.ndarray, budget: SpecBudget,
                table: AcceptanceTable, cost, max_batch: int, prompt_len: int,
                draft_s: float, max_spec: int, rng: np.random.Generator):
    n = len(keys)
    lengths = np.maximum(lengths.astype(np.int64), 1)
    gen = np.zeros(n, np.int64)
    k = np.zeros(n, np.int64)
    until = np.zeros(n)
    drafted = np.zeros(n, np.int64)
    accepted = np.zeros(n, np.int64)
    verify = np.zeros(n, np.int64)
    finish = np.full(n, np.nan)
    waiting = list(range(n))[::-1]
    active = np.array([], np.int64)
    t, steps = 0.0, []
    while waiting or len(active):
        room = max_batch - len(active)
        if room > 0 and waiting:
            take = [waiting.pop() for _ in range(min(room, len(waiting)))]
            active = np.concatenate([active, np.array(take, np.int64)])
        stale = active[gen[active] >= until[active]]
        for i in stale:
            k[i], until[i] = budget.draft_len_until(keys[i], int(gen[i]))
        left = lengths[active] - gen[active]
        k_eff = np.clip(np.minimum(k[active], left - 1), 0, max_spec)
        d, m = table.draw(rng, len(active))
        d = np.minimum(d, k_eff)
        m = np.minimum(m, d)
        q = 1.0 + d.mean()
        step_s = cost(len(active), q, prompt_len + gen[active].mean()) + draft_s * (k_eff > 0).sum()
        t += step_s
        steps.append((engine, t, len(active), int(len(active) + d.sum()), step_s))
        drafted[active] += d
        accepted[active] += m
        verify[active] += d > 0
        gen[active] += np.minimum(m + 1, left)
        done = gen[active] >= lengths[active]
        for i in active[done]:
            finish[i] = t
            budget.finish(keys[i], int(lengths[i]), int(drafted[i]), int(accepted[i]))
        active = active[~done]
    seqs = pd.DataFrame(dict(engine=engine, num_output_tokens=lengths, finish_s=finish,
                             num_draft_tokens=drafted, num_accepted_tokens=accepted,
                             num_verify_steps=verify))
    steps = pd.DataFrame(steps, columns=["engine", "t_s", "running", "tokens", "step_s"])
    return seqs, steps
