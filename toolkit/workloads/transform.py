"""Shrink a trace for a small real model: shorter prompts and outputs, a smaller vocabulary,
with its prefix-sharing structure kept.

Keeping every k-th prompt token keeps prefixes shared: two prompts that share their first L
tokens still share their first ceil(L/k) tokens after thinning. Token ids are mapped into
`[0, vocab_size)` by a fixed multiplicative hash (equal ids stay equal).
"""

from __future__ import annotations

from dataclasses import replace

from toolkit.core.request import Request
from toolkit.core.trace import Trace

_MIX = 2654435761  # Knuth's multiplicative hash constant


def shrink_trace(
    trace: Trace,
    keep_every: int = 1,
    vocab_size: int | None = None,
    max_prompt_len: int | None = None,
    max_output_len: int | None = None,
    reserved_ids: int = 3,
) -> Trace:
    """Thin prompts to every `keep_every`-th token, map ids into the vocabulary (skipping the
    first `reserved_ids` special tokens), cap prompt and output lengths.

    Block-hash traces (no token ids) pass through with only `max_output_len` applied.
    """
    if keep_every < 1:
        raise ValueError(f"keep_every must be >= 1, got {keep_every}")
    if vocab_size is not None and vocab_size <= reserved_ids:
        raise ValueError(f"vocab_size {vocab_size} leaves no ids after {reserved_ids} reserved")
    reqs = [_shrink(r, keep_every, vocab_size, max_prompt_len, max_output_len, reserved_ids)
            for r in trace]
    return Trace(reqs, trace.name, dict(trace.meta))


def _shrink(r: Request, every: int, vocab: int | None, max_prompt: int | None,
            max_out: int | None, reserved: int) -> Request:
    out_len = r.output_len if max_out is None else min(r.output_len, max_out)
    if r.prompt_token_ids is None:
        return replace(r, output_len=out_len)
    tokens = r.prompt_token_ids[::every]
    if vocab is not None:
        span = vocab - reserved
        tokens = tuple(reserved + (t * _MIX >> 7) % span for t in tokens)
    if max_prompt is not None:
        tokens = tokens[:max_prompt]
    return replace(r, prompt_token_ids=tokens, output_len=out_len)
