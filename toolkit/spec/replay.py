"""Measure a drafter on recorded rollouts: replay them through it as if they were being
generated, and note at every position how many tokens it would draft and how many of those
the recorded continuation confirms.

For a drafter that picks its tokens deterministically, "the draft agrees with the token the
target sampled" is exactly the acceptance event of speculative sampling (a deterministic
draft token x is kept with probability p(x), the chance the target samples x), so these
statistics are the drafter's acceptance on real tokens, for any draft length k:
drafted = min(d, k), accepted = min(m, k).
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import pandas as pd

from toolkit.spec.base import Drafter, SeqKey


@dataclass(frozen=True)
class Rollout:
    """One recorded sequence: its problem, its id, prompt and output tokens."""

    problem: Hashable
    seq: Hashable
    prompt: Sequence[int]
    output: Sequence[int]


def replay(drafter: Drafter, epochs: Sequence[Sequence[Rollout]], max_tokens: int,
           stride: int = 1) -> pd.DataFrame:
    """One row per (epoch, sequence, position): `drafted` (d, up to `max_tokens`),
    `matched` (m, leading draft tokens equal to the recorded ones), `propose_s`.

    Within an epoch the sequences advance together, one token per round (as a batch
    decodes), each token shown to the drafter once it is "verified"; `new_epoch()` runs
    between epochs. `stride` > 1 measures every stride-th position only (the drafter
    still sees every token)."""
    rows = []
    clock = time.perf_counter
    for e, rollouts in enumerate(epochs):
        longest = max((len(r.output) for r in rollouts), default=0)
        for t in range(longest):
            for r in rollouts:
                if t >= len(r.output):
                    continue
                key = SeqKey(r.problem, r.seq)
                if t % stride == 0:
                    context = [*r.prompt, *r.output[:t]]
                    t0 = clock()
                    draft = drafter.propose(key, context, max_tokens)
                    dt = clock() - t0
                    truth = r.output[t:t + len(draft)]
                    m = 0
                    while m < len(truth) and draft.tokens[m] == truth[m]:
                        m += 1
                    rows.append((e, r.problem, r.seq, t, len(draft), m, dt))
                drafter.observe(key, [r.output[t]])
                if t == len(r.output) - 1:
                    drafter.finish(key)
        drafter.new_epoch()
    return pd.DataFrame(rows, columns=["epoch", "problem", "seq", "position", "drafted",
                                       "matched", "propose_s"])
