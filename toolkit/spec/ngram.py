"""Prompt lookup (vLLM's `ngram` method): continue the context's last n-gram from where it
occurred before in the same context."""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from toolkit.spec.base import EMPTY, Draft, Drafter, SeqKey


class PromptLookup(Drafter):
    """For n from `max_n` down to `min_n`: if the context's last n tokens occurred earlier
    in the context, propose the tokens that followed their latest earlier occurrence.

    Deterministic (proposal probability 1); it has no estimate of acceptance, so each
    draft token's score is 1."""

    def __init__(self, min_n: int = 1, max_n: int = 4) -> None:
        if not 1 <= min_n <= max_n:
            raise ValueError(f"PromptLookup: need 1 <= min_n <= max_n, got {min_n}, {max_n}")
        self.min_n, self.max_n = min_n, max_n

    def propose(self, key: SeqKey, context: Sequence[int], max_tokens: int) -> Draft:
        n_ctx = len(context)
        if max_tokens <= 0 or n_ctx < self.min_n + 1:
            return EMPTY
        data = array("i", context).tobytes()
        for n in range(min(self.max_n, n_ctx - 1), self.min_n - 1, -1):
            start = find_last(data, data[4 * (n_ctx - n):])
            if start >= 0:
                follow = tuple(context[start + n:start + n + max_tokens])
                if follow:
                    return Draft(follow, (1.0,) * len(follow), (1.0,) * len(follow), None, n)
        return EMPTY


def find_last(data: bytes, pattern: bytes) -> int:
    """The token index of the latest earlier occurrence of `pattern` (the tail of `data`,
    both int32 tokens as bytes) in `data`; -1 if there is none."""
    hi = len(data) - len(pattern) - 1  # the latest start allowed, in bytes
    while hi >= 0:
        at = data.rfind(pattern, 0, hi + len(pattern))
        if at < 0:
            return -1
        if at % 4 == 0:
            return at // 4
        hi = at - 1
    return -1
