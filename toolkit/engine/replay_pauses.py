"""Replay a trace whose requests pause for tools on one in-process engine, in real time.

Each request is added at its arrival with its segments as `pause_after` (and their durations
shown to the pause policy as the oracle); when it pauses, the driver plays the tool: after
the segment's `pause_s` it resumes the request with `return_len` token ids drawn from a
seeded generator, so the same trace and seed give the same tool outputs.
"""

from __future__ import annotations

import heapq
import time
from typing import Any

import numpy as np

from toolkit.core.record import RequestRecord
from toolkit.core.request import Request
from toolkit.core.trace import Trace
from toolkit.engine.engine import LLMEngine
from toolkit.engine.replay import on_trace_clock
from toolkit.engine.sampling import SamplingParams


def tool_tokens(request: Request, index: int, vocab_size: int, seed: int) -> list[int]:
    """The ids a tool returns for `request`'s pause `index` (seeded, in `[0, vocab_size)`)."""
    n = request.segments[index].return_len  # type: ignore[index]
    key = [seed, index, *request.id.encode()]
    return np.random.default_rng(key).integers(0, vocab_size, size=n).tolist()


def replay_pauses_inprocess(engine: LLMEngine, trace: Trace, seed: int = 0,
                            vocab_size: int | None = None
                            ) -> tuple[list[RequestRecord], list[dict[str, Any]]]:
    """Run `trace` on `engine` (greedy, `ignore_eos`); return its records and pause log,
    both on the trace's clock."""
    vocab = vocab_size or engine.model_config.vocab_size
    reqs = list(trace)
    by_id = {r.id: r for r in reqs}
    t0 = engine.clock() - (reqs[0].arrival_s if reqs else 0.0)
    resumes: list[tuple[float, str, int]] = []
    records: list[RequestRecord] = []
    i = 0
    while i < len(reqs) or resumes or engine.has_unfinished():
        now = engine.clock() - t0
        while i < len(reqs) and reqs[i].arrival_s <= now:
            _add(engine, reqs[i], t0)
            i += 1
        while resumes and resumes[0][0] <= now:
            _, rid, index = heapq.heappop(resumes)
            engine.resume(rid, tool_tokens(by_id[rid], index, vocab, seed))
        if engine.has_unfinished():
            for out in engine.step():
                if out.paused:
                    req = by_id[out.request_id]
                    index = out.num_pauses - 1
                    heapq.heappush(resumes, (now + req.segments[index].pause_s,  # type: ignore[index]
                                             out.request_id, index))
        else:
            engine.expire_paused()
            time.sleep(max(0.0, min(_next_event(reqs, i, resumes) - now, 0.05)))
        records.extend(engine.take_records())
    records.extend(engine.take_records())
    return on_trace_clock(records, t0), _shift_log(engine.take_pause_log(), t0)


def _add(engine: LLMEngine, req: Request, t0: float) -> None:
    segs = req.segments or []
    params = SamplingParams(temperature=0.0, max_tokens=max(1, req.output_len), ignore_eos=True)
    engine.add_request(list(req.prompt_token_ids or ()), params, req.id, t0 + req.arrival_s,
                       pause_after=[max(1, s.output_len) for s in segs],
                       pause_durations_s=[s.pause_s for s in segs])


def _next_event(reqs: list[Request], i: int, resumes: list[tuple[float, str, int]]) -> float:
    times = [resumes[0][0]] if resumes else []
    if i < len(reqs):
        times.append(reqs[i].arrival_s)
    return min(times) if times else 0.0


def _shift_log(rows: list[dict[str, Any]], t0: float) -> list[dict[str, Any]]:
    for row in rows:
        if "start_s" in row:
            row["start_s"] -= t0
    return rows
