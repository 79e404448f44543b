"""What a model's context limit does to a request, as vLLM does it.

A prompt that leaves no room for one generated token is rejected. Otherwise the request runs
until its context (prompt + generated + tool-returned tokens) would pass the limit: a
generation phase that reaches it stops there and the request finishes (vLLM's `length`
finish); a tool whose returned tokens would not fit is never called back: the output
generated before the call becomes the final answer (as the benchmark's output cap does).
"""

from __future__ import annotations

import dataclasses

from toolkit.core.request import Request
from toolkit.core.trace import Trace


def fit_context(request: Request, max_context_len: int) -> tuple[Request | None, bool]:
    """(the request as it runs under `max_context_len`, whether it was cut); (None, True)
    when its prompt alone reaches the limit. Phases generate at least one token."""
    if max_context_len < 2:
        raise ValueError(f"max_context_len must be at least 2, got {max_context_len}")
    ctx = request.prompt_len
    if ctx >= max_context_len:
        return None, True
    kept = []
    for seg in request.segments or ():
        out = max(1, seg.output_len)
        if ctx + out > max_context_len:  # the limit is reached while generating
            return dataclasses.replace(request, segments=kept or None,
                                       output_len=max_context_len - ctx), True
        ctx += out
        if ctx + seg.return_len > max_context_len:  # the tool's tokens would not fit
            return dataclasses.replace(request, segments=kept or None, output_len=out), True
        ctx += seg.return_len
        kept.append(seg)
    final = max(1, request.output_len)
    if ctx + final > max_context_len:
        return dataclasses.replace(request, output_len=max_context_len - ctx), True
    return request, False


def fit_trace_context(trace: Trace, max_context_len: int | None) -> tuple[Trace, set[str]]:
    """Every request of `trace` as it runs under `max_context_len` (None: unchanged), and the
    ids of those cut. A request whose prompt alone reaches the limit stays as it is (the
    engine rejects it) and counts as cut."""
    if max_context_len is None:
        return trace, set()
    fitted, cut = [], set()
    for req in trace:
        new, was_cut = fit_context(req, int(max_context_len))
        fitted.append(req if new is None else new)
        if was_cut:
            cut.add(req.id)
    return Trace(fitted, name=trace.name, meta=dict(trace.meta)), cut
