"""The drafter contract every backend calls.

A drafter sees token ids only. `propose(key, context, max_tokens)` returns up to `max_tokens`
draft tokens continuing `context` (the sequence's prompt plus what it has generated), each
with the probability the drafter's proposal law gave it; `observe(key, tokens)` hands it
tokens the target just verified for that sequence; `finish(key)` says the sequence ended;
`new_epoch()` says an RL step is over (the problems recur in the next one).

`key` is a `SeqKey`: the problem a sequence samples (the prompt id, shared by the G samples
of one prompt) and the sequence itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple


class SeqKey(NamedTuple):
    """Which problem a sequence samples, and which sequence it is."""

    problem: Hashable
    seq: Hashable


@dataclass(frozen=True, slots=True)
class Draft:
    """Draft tokens and how the drafter chose them.

    `probs[i]` is the proposal law's probability of `tokens[i]` given the context and the
    draft before it (1.0 for a drafter that picks deterministically); `laws[i]`, when not
    None, is that whole law as {token: probability} (what rejection sampling needs when the
    proposal is random). `scores[i]` is the drafter's own estimate that the target accepts
    the draft up to and including token i (for budgets; not used by verification).
    `match_len` is the length of the context suffix the draft continues."""

    tokens: tuple[int, ...] = ()
    probs: tuple[float, ...] = ()
    scores: tuple[float, ...] = ()
    laws: tuple[dict[int, float], ...] | None = None
    match_len: int = 0

    def __post_init__(self) -> None:
        n = len(self.tokens)
        if len(self.probs) != n or len(self.scores) != n:
            raise ValueError(f"Draft: {n} tokens but {len(self.probs)} probs and "
                             f"{len(self.scores)} scores")
        if self.laws is not None and len(self.laws) != n:
            raise ValueError(f"Draft: {n} tokens but {len(self.laws)} laws")

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def expected_accepted(self) -> float:
        """The drafter's estimate of how many draft tokens the target accepts."""
        return float(sum(self.scores))


EMPTY = Draft()


@dataclass
class DraftStats:
    """Per-sequence speculation counters the backends report."""

    num_draft_tokens: int = 0
    num_accepted_tokens: int = 0
    num_verify_steps: int = 0
    accepted_per_step: list[int] = field(default_factory=list)

    def add(self, drafted: int, accepted: int) -> None:
        self.num_draft_tokens += drafted
        self.num_accepted_tokens += accepted
        self.num_verify_steps += 1
        self.accepted_per_step.append(accepted)


class Drafter(ABC):
    """Proposes draft tokens from token history; never sees the target model."""

    @abstractmethod
    def propose(self, key: SeqKey, context: Sequence[int], max_tokens: int) -> Draft:
        """Up to `max_tokens` tokens continuing `context` (may be empty)."""

    def observe(self, key: SeqKey, tokens: Sequence[int]) -> None:  # noqa: B027
        """Tokens the target verified for `key`, in order (default: ignored)."""

    def finish(self, key: SeqKey) -> None:  # noqa: B027
        """`key`'s sequence ended (default: nothing to do)."""

    def new_epoch(self) -> None:  # noqa: B027
        """An RL step ended; the same problems come back (default: nothing to do)."""


class NoDrafter(Drafter):
    """No speculation: every propose is empty (the baseline)."""

    def propose(self, key: SeqKey, context: Sequence[int], max_tokens: int) -> Draft:
        return EMPTY
