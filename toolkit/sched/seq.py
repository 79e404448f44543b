"""Engine-side state of one request, shared by the simulated and the real engine."""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

from toolkit.core.request import Request


class SeqStatus(Enum):
    WAITING = 0
    RUNNING = 1
    FINISHED = 2
    PAUSED = 3


class Seq:
    """A request inside one engine: its prefix-cache handle, progress and KV holdings.

    Token counts: `num_cached_tokens` came from the prefix cache at admission;
    `num_prefilled` prompt(+recompute) tokens are in the KV cache; `num_generated` output
    tokens exist. `held_tokens` are KV slots this sequence owns outside the prefix tree.
    """

    __slots__ = (
        "request", "arrival_s", "status", "node", "num_cached_tokens", "num_prefilled",
        "num_generated", "held_tokens", "first_token_s", "num_preemptions",
        "recompute_tokens", "first_cached_tokens", "match_len", "match_epoch", "priority",
        "match_hint", "priority_len",
        "finish_step", "decode_entry", "gen_entry", "admit_seq", "num_pauses",
    )

    def __init__(self, request: Request) -> None:
        self.request = request
        self.arrival_s = request.arrival_s
        self.status = SeqStatus.WAITING
        self.node: Any = None
        self.num_cached_tokens = 0
        self.num_prefilled = 0
        self.num_generated = 0
        self.held_tokens = 0
        self.first_token_s = math.nan
        self.num_preemptions = 0
        self.recompute_tokens = 0
        self.first_cached_tokens = -1
        self.match_len = 0
        self.match_epoch = -1
        self.match_hint: Any = None  # the cache's last MatchResult for this prompt
        self.priority = 0
        self.priority_len = -1  # the match_len `priority` was computed from (-1: none)
        self.finish_step = 0
        self.decode_entry = 0
        self.gen_entry = 0
        self.admit_seq = 0
        self.num_pauses = 0

    @property
    def id(self) -> str:
        return self.request.id

    @property
    def prefill_len(self) -> int:
        """Tokens the prefill phase must have in KV: the prompt plus any recomputed output."""
        return self.request.prompt_len + self.recompute_tokens

    @property
    def remaining_prefill(self) -> int:
        return self.prefill_len - self.num_prefilled

    @property
    def in_prefill(self) -> bool:
        return self.num_prefilled < self.prefill_len

    @property
    def target_output_len(self) -> int:
        """Output tokens to produce in all (at least one: prefill yields the first token)."""
        return max(1, self.request.output_len)

    def __repr__(self) -> str:
        return f"Seq({self.id}, {self.status.name}, pf={self.num_prefilled}/{self.prefill_len}, gen={self.num_generated})"
